"""The only tags and filters a cadence's message template may use.

Django's full set includes tags that read files (include, extends, ssi), load other
libraries, or loop (`for`, whose nesting grows output exponentially), and filters that pad
or format to any width a template names (`ljust:999999999`, `stringformat`). Managers write
these templates, but a message is rendered for every lead: a template must not be able to
stall a worker or fill its memory.
"""

from django.template import Library, defaultfilters, defaulttags

register = Library()

for name in ("if", "firstof", "with", "now", "comment"):
    register.tag(name, defaulttags.register.tags[name])

for name in (
    "capfirst",
    "cut",
    "date",
    "default",
    "default_if_none",
    "first",
    "last",
    "length",
    "lower",
    "pluralize",
    "time",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "yesno",
):
    register.filter(name, defaultfilters.register.filters[name])
