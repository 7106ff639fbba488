from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Button, Field, Fluid, Layout
from django import forms
from django.core.validators import RegexValidator

from missingkids.forms import Form
from missingkids.policy import GUIDANCE_MAX_LENGTH

from .models import GuidancePage

MARKDOWN_HINT = (
    "Write in Markdown: a blank line between paragraphs, ## for a heading, - for a list "
    "item, [words](https://address) for a link, > for a box of text that stands out. "
    "HTML is not allowed: it is shown as typed."
)


class GuidanceForm(Form):
    title = forms.CharField(max_length=120, error_messages={"required": "Enter the page's title"})
    summary = forms.CharField(
        max_length=300,
        required=False,
        help_text="One sentence shown under the title in the list of guidance.",
    )
    body = forms.CharField(
        label="Text of the page",
        help_text=MARKDOWN_HINT,
        max_length=GUIDANCE_MAX_LENGTH,
        widget=forms.Textarea,
        error_messages={"required": "Enter the text of the page"},
    )
    change_note = forms.CharField(
        label="What changed",
        max_length=300,
        help_text="For the page's history, for example 'Out-of-hours number updated'.",
        error_messages={"required": "Say what changed, for the page's history"},
    )
    # The version the author started from: a save on top of someone else's is refused.
    version = forms.IntegerField(
        widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1, required=False
    )

    def __init__(self, *args: Any, adding: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adding = adding
        fields: list[Any] = []
        if adding:
            self.fields["slug"] = forms.CharField(
                label="Web address",
                max_length=60,
                help_text=(
                    "The last part of the page's address: lower-case letters, numbers and "
                    "hyphens, for example 'county-lines'. It cannot be changed later."
                ),
                validators=[
                    RegexValidator(
                        r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
                        "Use only lower-case letters, numbers and single hyphens between them",
                    )
                ],
                error_messages={"required": "Enter the page's web address"},
            )
            self.fields["change_note"].required = False
            fields.append(Field.text("slug", field_width=Fluid.TWO_THIRDS))
            self.order_fields(["slug", "title", "summary", "body"])
        fields += [
            Field.text("title"),
            Field.text("summary"),
            Field.textarea("body", rows=20),
        ]
        if not adding:
            fields.append(Field.text("change_note"))
        fields.append("version")
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            *fields,
            Button.secondary("preview", "Preview"),
            Button("save", "Save the page" if adding else "Save changes"),
        )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug == "new" or GuidancePage.objects.filter(slug=slug).exists():
            raise forms.ValidationError("There is already a page at that address")
        return slug
