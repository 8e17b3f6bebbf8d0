"""Classify inbound SMS replies as opt-out, help, opt-in or other.

Revocation follows 47 CFR 64.1200(a)(10)-(12) (FCC, effective 11 Apr 2025): a consumer may
revoke by any reasonable means; the standard keywords count automatically, and other wording
counts when a reasonable person would read it as a request to stop. So the policy is to err
towards opt-out: a short message dominated by a stop word, or a plain-language request to stop
contact (English or Spanish, small typos tolerated), is an opt-out. A stop word that is clearly
part of another request ("stop by the office", "don't stop", "cancel my appointment and
reschedule") is not. An opt-out always beats HELP and START in the same message.
"""

import re
import unicodedata

from django.db import models


class Intent(models.TextChoices):
    OPT_OUT = "opt_out", "Opt-out"
    HELP = "help", "Help"
    OPT_IN = "opt_in", "Opt-in"
    OTHER = "other", "Other"


OPT_OUT_KEYWORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "remove"}
)
OPT_OUT_PHRASES = frozenset({"stop all", "opt out", "no more", "no mas"})
SPANISH_OPT_OUT_KEYWORDS = frozenset(
    {"para", "parar", "pare", "paren", "basta", "alto", "detener", "cancelar", "baja"}
)
HELP_KEYWORDS = frozenset({"help", "info", "information", "ayuda", "informacion"})
OPT_IN_KEYWORDS = frozenset({"start", "unstop", "yes", "subscribe", "resubscribe", "optin"})
OPT_IN_PHRASES = frozenset({"opt in"})

# Words a bare keyword message may carry without changing what it means.
FILLER_WORDS = frozenset(
    {"please", "pls", "plz", "plse", "now", "ok", "okay", "thanks", "thank", "you", "thx", "ty"}
    | {"me", "it", "this", "again", "just", "asap", "por", "favor", "porfa", "porfavor", "ya"}
)

# Keywords matched with one typo; long enough that one edit rarely lands on another word.
TYPO_TOLERANT_KEYWORDS = tuple(sorted(OPT_OUT_KEYWORDS - {"end"} | {"cancelar", "detener"}))
# Real words one edit away from a keyword: never read them as typos.
NOT_TYPOS = frozenset(
    {"shop", "step", "stow", "slop", "atop", "stomp", "stoop", "swop", "cancer", "chancel"}
    | {"quite", "quiet", "suit", "quiz", "quilt", "quint", "quip", "quid", "evoke", "remote"}
    | {"quita", "quito", "retener"}
)

# A stop word anywhere in a short message, or leading or ending a long one, is an opt-out.
DOMINANT_STOP_WORDS = frozenset({"stop", "stopall", "cancel", "cancelar", "basta", "detener"})
SHORT_MESSAGE_WORDS = 6
# With these, "cancel" is about a booking, not about the messages.
OTHER_REQUEST_WORDS = frozenset(
    {"appointment", "appointments", "appt", "reschedule", "meeting", "order", "booking"}
    | {"reservation", "visit", "consultation", "cita", "reprogramar", "pedido", "orden"}
)

_NEGATED_OR_IDIOMATIC = re.compile(
    r"\b(?:dont|do not|never|cant|cannot) (?:stop|cancel|unsubscribe|remove|quit|end|opt out)\b"
    r"|\b(?:bus|next|last|pit|truck|full) stop\b"
    r"|\bstop (?:by|in|at|over|sign|light)\b"
)

_CONTACT = (
    r"(?:text\w*|txt\w*|msg\w*|messag\w*|call\w*|contact\w*|email\w*|sms|send\w*|spam\w*"
    r"|bother\w*|bugg\w*|harass\w*|hitting me up|reaching out|conversation|chat)"
)
_SPANISH_DONT = (
    r"(?:mandes|manden|mande|envies|envien|envie|escribas|escriban|escriba|llames|llamen|llame"
    r"|contactes|contacten|contacte|molestes|molesten|moleste|textees|texteen)"
)
_STOP_REQUEST = re.compile(
    "|".join(
        [
            rf"\b(?:stop|quit|cease|end) (?:(?:all|the|this|these|those|your|ur|with) )?{_CONTACT}",
            r"\b(?:dont|do not) (?:ever )?(?:text|txt|msg|message|call|contact|email|sms|bother"
            r"|spam)\w*(?: (?:me|us|this number|again|anymore|ever)\b|$)",
            r"\bnever (?:ever )?(?:text|txt|msg|message|call|contact|email|bother)\w* "
            r"(?:me|this number)\b(?! back)",
            r"\bdo not (?:call|contact) list\b",
            rf"\bno more {_CONTACT}",
            r"\b(?:take|get) me off\b",
            r"\boff (?:of )?(?:your|ur|the|this|ya) (?:\w+ )?lists?\b",
            r"\b(?:remove|delete|erase) (?:me|this number|my (?:\w+ )?(?:number|phone|info"
            r"|information|contact|details|data))\b",
            r"\b(?:unsubscribe|optout|opt(?:ed)? (?:me )?out|revoke|stopall|dnc)\b",
            r"\b(?:lose|delete) (?:my|this) number\b",
            r"\b(?:leave me alone|wrong number|wrong person)\b",
            r"\b(?:f|fuck|fck|fuk|f ck|f k|piss|buzz|bugger|sod) off\b",
            r"\bno mas (?:mensaj\w*|text\w*|llamad\w*|msj\w*|sms|correos?)",
            rf"\bno me {_SPANISH_DONT}\b",
            r"\b(?:dej|par)(?:en|e|a|ar) de (?:mand|envi|escrib|llam|molest|texte|contact|recib)",
            r"\b(?:borr|quit|elimin|sac)(?:ame|enme|arme|eme)(?: de\b|$)",
            r"\b(?:borr|quit|elimin|sac)(?:ar|en|a|e) (?:mi|este|el) (?:numero|telefono|cel\w*)",
            r"\b(?:dame|darme|denme|deme|dar|doy) de baja\b",
            r"\bdej(?:a|e|en)me en paz\b",
            r"\bno (?:quiero|deseo) (?:recibir|mas)\b",
            r"\bnumero equivocado\b",
            r"\b(?:detener|deten|detengan) (?:(?:los|las|estos|estas) )?(?:mensaj|text|llamad)",
        ]
    )
)


def _sequence_of(words: frozenset[str]) -> re.Pattern[str]:
    """Compile a pattern matching one or more of these words, space-separated."""
    choice = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"(?:{choice})(?: (?:{choice}))*")


_APOSTROPHES = re.compile("['`\u2018\u2019\u00b4\u02bc]")
_BARE_OPT_OUT = _sequence_of(OPT_OUT_KEYWORDS | OPT_OUT_PHRASES | SPANISH_OPT_OUT_KEYWORDS)
_BARE_HELP = _sequence_of(HELP_KEYWORDS)
_BARE_OPT_IN = _sequence_of(OPT_IN_KEYWORDS | OPT_IN_PHRASES)


def _within_one_edit(word: str, target: str) -> bool:
    """Return whether one insertion, deletion, substitution or swap turns word into target."""
    if abs(len(word) - len(target)) > 1:
        return False
    if len(word) != len(target):
        shorter, longer = sorted((word, target), key=len)
        return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))
    diffs = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
    if len(diffs) <= 1:
        return True
    i, j = diffs[0], diffs[-1]
    return len(diffs) == 2 and j == i + 1 and word[i] == target[j] and word[j] == target[i]


def _correct(word: str) -> str:
    """Return the keyword a misspelt word stands for, or the word itself."""
    if len(word) < 4 or word in NOT_TYPOS or word in TYPO_TOLERANT_KEYWORDS:
        return word
    for keyword in TYPO_TOLERANT_KEYWORDS:
        if _within_one_edit(word, keyword):
            return keyword
    return word


def _words(text: str) -> list[str]:
    """Split text into lowercase, accent-free words with keyword typos corrected."""
    text = _APOSTROPHES.sub("", text)  # "don't" -> "dont"
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"(\w)\1{2,}", r"\1", text.casefold())  # "stooop" -> "stop"
    return [_correct(word) for word in re.sub(r"[\W_]+", " ", text).split()]


def _is_bare(
    words: list[str], pattern: re.Pattern[str], ignore: frozenset[str] = frozenset()
) -> bool:
    """Return whether the words are only these keywords, give or take filler."""
    rest = " ".join(w for w in words if w not in FILLER_WORDS and w not in ignore)
    return bool(rest) and pattern.fullmatch(rest) is not None


def _is_dominated_by_stop_word(words: list[str]) -> bool:
    """Return whether a stop word leads, ends or sits in a short message."""
    content = [w for w in words if w not in FILLER_WORDS]
    stop_words = DOMINANT_STOP_WORDS.intersection(content)
    if not stop_words:
        return False
    if stop_words.isdisjoint({"stop", "stopall"}) and OTHER_REQUEST_WORDS.intersection(content):
        return False
    short = len(content) <= SHORT_MESSAGE_WORDS
    return short or content[0] in stop_words or content[-1] in stop_words


def _is_opt_out(words: list[str]) -> bool:
    """Return whether the words ask, by keyword or plain language, to stop contact."""
    text = _NEGATED_OR_IDIOMATIC.sub(" ", " ".join(words))
    words = text.split()
    return (
        _is_bare(words, _BARE_OPT_OUT, ignore=HELP_KEYWORDS | OPT_IN_KEYWORDS)
        or _STOP_REQUEST.search(text) is not None
        or _is_dominated_by_stop_word(words)
    )


def classify(text: str) -> Intent:
    """Classify an inbound SMS reply."""
    words = _words(text)
    if not words:
        return Intent.OTHER
    if _is_opt_out(words):
        return Intent.OPT_OUT
    if _is_bare(words, _BARE_HELP):
        return Intent.HELP
    if _is_bare(words, _BARE_OPT_IN):
        return Intent.OPT_IN
    return Intent.OTHER
