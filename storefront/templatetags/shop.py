"""Template filters of the shop."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    """`mapping[key]`, or None: for dictionaries keyed by SKU."""
    return mapping.get(key) if mapping else None
