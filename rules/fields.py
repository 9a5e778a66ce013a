"""Which document fields a rule may name, and the alert label each group field becomes.

Alert labels travel to Alertmanager, PagerDuty and the ``--match`` of silences, where dotted
names are awkward or invalid, so ``midwatch.flow`` becomes ``flow`` and ``service.name``
becomes ``service_name``.
"""

from __future__ import annotations

from collector.store import fields as store_fields
from collector.yamlconf import did_you_mean

_STRIP = ("midwatch.", "labels.")


class FieldError(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


def check_field(index: str, name: str, *, groupable: bool = False) -> store_fields.FieldSpec:
    """The field's spec; FieldError with a did-you-mean hint when the index has no such field.
    An index midwatch does not write (a ``query`` rule's) is checked against the cluster's
    mapping instead (``rules.sources``): any name is taken here."""
    if index not in store_fields.SCHEMAS:
        return store_fields.FieldSpec("keyword")
    schema = store_fields.SCHEMAS[index]
    head, _, rest = name.partition(".")
    if name in schema:
        spec = schema[name]
    elif index == "alerts" or (rest and head in store_fields.OPEN_MAPS[index]):
        # alert history is the engine's own free-form documents (strings as keywords)
        if index == "events" and head == "labels" and rest != rest.lower():
            # Parsers store label keys lower case (parsers._fields.label_key): a rule naming
            # the key as the log line spells it would load and never match.
            raise FieldError(f"no event label is stored as {name!r}: label keys are lower case",
                             f"did you mean 'labels.{rest.lower()}'?")
        spec = store_fields.FieldSpec("keyword")
    else:
        raise FieldError(f"unknown field {name!r} in {index}",
                         did_you_mean(name, schema) or f"known fields: {', '.join(sorted(schema))}")
    if groupable and (spec.array or spec.type in ("text", "date")):
        kind = "an array" if spec.array else f"a {spec.type}"
        raise FieldError(f"cannot group by {name!r}: it is {kind} field",
                         "group by a keyword field such as midwatch.flow")
    return spec


def label_name(field: str) -> str:
    for prefix in _STRIP:
        if field.startswith(prefix):
            field = field[len(prefix):]
            break
    return field.replace(".", "_")


def group_labels(group: dict) -> dict[str, str]:
    return {label_name(k): "" if v is None else str(v) for k, v in group.items()}
