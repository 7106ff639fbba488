"""Check your answers for the long forms (the safe and well check, the return interview).

The GOV.UK pattern, as reporting an episode does it: the question page's answers wait
in the session (one draft per form and episode) until the person confirms them on a
summary list whose "Change" links go back to the question, with what was typed kept.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from missingkids.accounts.templatetags.govuk_forms import first_input_id


def _key(name: str, pk: int) -> str:
    return f"draft:{name}:{pk}"


def save(request: HttpRequest, name: str, pk: int) -> None:
    request.session[_key(name, pk)] = {
        key: request.POST.getlist(key) for key in request.POST if key != "csrfmiddlewaretoken"
    }


def load(request: HttpRequest, name: str, pk: int) -> MultiValueDict | None:
    stored = request.session.get(_key(name, pk))
    return MultiValueDict(stored) if stored is not None else None


def discard(request: HttpRequest, name: str, pk: int) -> None:
    request.session.pop(_key(name, pk), None)


def _shown(form: forms.Form, name: str) -> str:
    field = form.fields[name]
    value = form.cleaned_data.get(name)
    raw = form[name].value()
    if isinstance(field, forms.MultipleChoiceField):
        labels = dict(field.choices)
        return ", ".join(str(labels.get(v, v)) for v in (raw or []))
    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
        return str(dict(field.choices).get(raw, "")) if raw else ""
    if isinstance(field, forms.BooleanField):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%-d %b %Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%-d %b %Y")
    if isinstance(value, models.Model):
        return str(value)
    return str(value or "")


def answers(form: forms.Form, *, skip: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Summary list rows: the question, what was typed, and the first input to change it."""
    rows = []
    for name, field in form.fields.items():
        if name == "version" or name in skip or isinstance(field.widget, forms.HiddenInput):
            continue
        label = str(field.label or name.replace("_", " ").capitalize())
        rows.append({"label": label, "value": _shown(form, name), "id": first_input_id(form[name])})
    return rows


def agreed_action_answers(form: forms.Form, count: int) -> list[dict[str, str]]:
    """One row per agreed action typed: what, who owns it, by when."""
    rows = []
    data = form.cleaned_data
    for number in range(1, count + 1):
        prefix = f"action_{number}_"
        description = data.get(f"{prefix}description")
        person = data.get(f"{prefix}owner_person")
        agency = data.get(f"{prefix}owner_agency")
        due = data.get(f"{prefix}due_date")
        if not any([description, person, agency, due]):
            continue
        owner = person.name if person else ""
        text = ", ".join(str(p) for p in (description, owner, agency) if p)
        if due:
            text += f", due by {due:%-d %b %Y}"
        rows.append(
            {
                "label": f"Agreed action {number}",
                "value": text,
                "id": f"id_{prefix}description",
            }
        )
    return rows
