import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.keywords import Intent, classify

STANDARD_OPT_OUT_KEYWORDS = [
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT-OUT",
    "OPT OUT",
    "REMOVE",
]

OPT_OUTS = [
    # Standard keywords, however they are typed.
    *STANDARD_OPT_OUT_KEYWORDS,
    "Stop.",
    "STOP!!!",
    " stop ",
    "'STOP'",
    "Stop 🛑",
    "stop stop stop",
    "STOP please",
    "Please stop!",
    "stoooop",
    "\uff33\uff34\uff2f\uff30",  # full-width STOP
    "Unsubscribe me",
    "remove me",
    "Cancel.",
    "end",
    "Quit!",
    "opt-out please",
    "STOP START",
    "HELP STOP",
    "Yes stop",
    # Typos.
    "stpo",
    "sotp",
    "stopp",
    "unsubscibe",
    "unsuscribe",
    "cancle",
    "remvoe",
    # Plain-language requests.
    "please stop texting me",
    "stop calling me",
    "Stop sending me these messages",
    "quit texting",
    "take me off your list",
    "Remove me from your list",
    "remove my number",
    "delete my number please",
    "don't text me",
    "Dont contact me anymore",
    "do not call",
    "Never text me again",
    "no more texts",
    "No more",
    "leave me alone",
    "I'm not interested stop",
    "wrong number stop",
    "Wrong number",
    "lose my number",
    "f*** off stop",
    "F off",
    "Who is this? Stop",
    "Stop! Who is this??",
    "I told you to stop",
    "how do I unsubscribe?",
    "I already opted out",
    "I would like to end this conversation",
    "Please remove me from this group",
    "stop calling me before 9am",
    "I revoke my consent",
    "Put me on your DNC list",
    "Cancel, I changed my mind",
    "Stop, I need to reschedule",
    # Spanish.
    "no mas",
    "No más!",
    "no más mensajes",
    "para",
    "Para ya por favor",
    "basta",
    "Ya basta!",
    "ya no me manden mensajes",
    "no me llames",
    "No me escriban más",
    "detener",
    "cancelar",
    "ALTO",
    "bórrame de la lista",
    "quitar mi número",
    "Dejen de mandarme mensajes",
    "déjame en paz",
    "quiero darme de baja",
    "número equivocado",
    "No quiero recibir más mensajes",
]

HELPS = ["HELP", "help", "Help!", "help?", "INFO", "info please", "Ayuda", "ayuda por favor"]

OPT_INS = ["START", "start", "Start.", "UNSTOP", "YES", "yes!", "Yes please", "subscribe"]
OPT_INS += ["Subscribe me", "start again"]

OTHERS = [
    "",
    "   ",
    "🛑",
    "Don't stop, I'm interested",
    "Please don't stop sending updates",
    "What time will you call?",
    "yes call me tomorrow",
    "stop by the office at 5?",
    "I'll stop in tomorrow morning",
    "Which one is the last stop?",
    "Can you send the quote?",
    "I'd like to cancel my appointment and reschedule",
    "cancel my order",
    "Who is this?",
    "ok",
    "Thanks!",
    "Thank you",
    "Sounds good",
    "How much does it cost?",
    "Call me back please",
    "Can you call me after 5?",
    "I'm at work, text me later",
    "Is this about the solar quote?",
    "Yes, I'm still interested",
    "What's your address?",
    "Not right now, maybe next month",
    # Turns down the offer, not the contact; a stop word would make it an opt-out.
    "Not interested",
    "No thanks",
    "Send me the info",
    "Can I get more info about the plan?",
    "I need help choosing a plan",
    "The end of the month works for me",
    "I quit my job last week so money is tight",
    "Remove the old address and use 12 Elm St",
    "I'm quite busy today",
    "Be quiet, I'm at the shop",
    "What step are we on?",
    "I don't text much, call me",
    "You never call me back",
    "Drop me a line tomorrow",
    "My doctor found cancer early, so I need insurance",
    "Start the paperwork Monday?",
    "Yes but only after 6pm",
    "Hasta luego",
    "Gracias",
    "¿Quién es?",
    "¿Para qué es?",
    "Sí, llámame mañana",
    "¿A qué hora me llaman?",
    "Necesito cancelar mi cita",
    "no me llamo Juan",
    "no me llamaste",
    "estoy de baja",
    "Sácame una cita para el lunes",
    "El precio es muy alto",
    "no",
    "Maybe",
    "👍",
]

CASES = (
    [(text, Intent.OPT_OUT) for text in OPT_OUTS]
    + [(text, Intent.HELP) for text in HELPS]
    + [(text, Intent.OPT_IN) for text in OPT_INS]
    + [(text, Intent.OTHER) for text in OTHERS]
)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(text) for text, _ in CASES])
def test_classifies_real_world_replies(text, expected):
    assert classify(text) == expected


@given(st.text())
def test_any_text_gets_an_intent(text):
    assert isinstance(classify(text), Intent)


noise = st.text(alphabet=string.punctuation + string.whitespace, max_size=6)


@given(
    before=noise,
    keyword=st.sampled_from(STANDARD_OPT_OUT_KEYWORDS),
    case=st.sampled_from([str.upper, str.lower, str.title, str.capitalize]),
    after=noise,
)
def test_standard_keyword_in_any_punctuation_is_an_opt_out(before, keyword, case, after):
    assert classify(f"{before}{case(keyword)}{after}") == Intent.OPT_OUT
