"""The missing person profile's form. The rules (who, which photo) live in
``incidents.actions.profiles``, which reports errors by these fields' names."""

from __future__ import annotations

from typing import Any

from crispy_forms_gds.helper import FormHelper
from crispy_forms_gds.layout import Field, Layout, Submit
from django import forms

from missingkids import policy
from missingkids.forms import Form

from ..actions.profiles import megabytes
from ..models import MissingPersonProfile


def _text(name: str) -> forms.CharField:
    model_field = MissingPersonProfile._meta.get_field(name)
    return forms.CharField(
        label=f"{str(model_field.verbose_name).capitalize()} (optional)",
        help_text=model_field.help_text,
        required=False,
        max_length=policy.FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ProfileForm(Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    physical_description = _text("physical_description")
    clothing = _text("clothing")
    phone_numbers = _text("phone_numbers")
    social_media = _text("social_media")
    associates = _text("associates")
    places = _text("places")
    health_needs = _text("health_needs")
    medication = _text("medication")
    what_helped = _text("what_helped")
    photo = forms.FileField(
        label="Photo (optional)",
        required=False,
        help_text=(
            f"A recent photo of the child's face, JPEG or PNG, smaller than "
            f"{megabytes(policy.PROFILE_PHOTO_MAX_BYTES)}. A new photo replaces the one kept."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )
    remove_photo = forms.BooleanField(label="Remove the photo kept", required=False)

    def __init__(self, *args: Any, has_photo: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A plain file input: the photo kept is shown on the page, not as a link here.
        self.fields["photo"].widget = forms.FileInput(attrs={"accept": "image/jpeg,image/png"})
        if not has_photo:
            del self.fields["remove_photo"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Field("version"),
            *(Field.textarea(name) for name in MissingPersonProfile.TEXT_FIELDS),
            Field("photo"),
            *([Field.checkbox("remove_photo")] if has_photo else []),
            Submit("submit", "Save the profile"),
        )

    def action_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "photo": data.get("photo"),
            "remove_photo": bool(data.get("remove_photo")) and not data.get("photo"),
            **{name: data.get(name, "") for name in MissingPersonProfile.TEXT_FIELDS},
        }
