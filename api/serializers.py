"""What the API accepts and returns.

Input is strict: a field the API does not know, a value of the wrong JSON type (a
number for a text, "yes" for true) or a time with no date is refused with the field
named, before any action function is called. What the action functions then refuse
(a time in the future, found before last seen) comes back from them, also by field.
Times are ISO 8601; one without an offset is taken as UK time (Europe/London).

Responses name the child by id and the force's reference only: the system already
knows who the child is, and answers kept for retried calls (``IdempotentRequest``)
then hold no names.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from incidents.models import (
    CaseEvent,
    Child,
    Episode,
    Gender,
    LegalStatus,
    Placement,
    RiskGrade,
    SharingMethod,
)
from missingkids.policy import FREE_TEXT_MAX_LENGTH


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def text(max_length: int = FREE_TEXT_MAX_LENGTH, **kwargs: Any) -> StrictCharField:
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", not kwargs["required"])
    if not kwargs["required"]:
        kwargs.setdefault("default", "")
    return StrictCharField(max_length=max_length, trim_whitespace=True, **kwargs)


def flag(**kwargs: Any) -> StrictBooleanField:
    return StrictBooleanField(required=False, default=False, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, at every level."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not part of the API."] for name in unknown}
                )
        return super().to_internal_value(data)


# Input ----------------------------------------------------------------------------------


class ChildMatchSerializer(StrictSerializer):
    police_person_reference = text(
        40, help_text="The force's own reference for the person; matched first."
    )
    first_name = text(100, required=True)
    last_name = text(100, required=True)
    date_of_birth = serializers.DateField()
    gender = serializers.ChoiceField(choices=Gender.choices, default=Gender.NOT_KNOWN)
    responsible_area = text(
        9,
        help_text="ONS code of the council responsible for the child (e.g. E06000050): "
        "needed only when no recorded child matches and the child is added.",
    )


class FlagsSerializer(StrictSerializer):
    flag_cse = flag(help_text="Child sexual exploitation.")
    flag_cce = flag(help_text="Criminal exploitation or county lines.")
    flag_trafficking = flag()
    flag_self_harm = flag()
    flag_mental_health = flag()
    flag_other = text(200, help_text="Another vulnerability, in words.")


class ReportSerializer(StrictSerializer):
    child = ChildMatchSerializer()
    police_reference = text(
        40,
        required=True,
        help_text="The force's reference for this report: a second call with the same "
        "reference returns the first answer and never makes a second episode.",
    )
    category = serializers.ChoiceField(choices=Episode.Category.choices)
    reported_at = serializers.DateTimeField()
    reported_by_name = text(200, required=True)
    last_seen_at = serializers.DateTimeField()
    last_seen_address = text()
    circumstances = text(required=True)
    flags = FlagsSerializer(required=False)
    risk = serializers.ChoiceField(choices=RiskGrade.choices, help_text="The police grade.")
    risk_rationale = text(required=True)


class RegradeSerializer(StrictSerializer):
    grade = serializers.ChoiceField(choices=RiskGrade.choices)
    rationale = text(required=True)
    graded_at = serializers.DateTimeField(
        required=False,
        help_text="When graded (now if left out). Without an Idempotency-Key header it is "
        "required: it makes a retried call recognisable.",
    )


class ReturnSerializer(StrictSerializer):
    found_at = serializers.DateTimeField()
    found_address = text()
    found_with = text(300)
    how_returned = serializers.ChoiceField(choices=Episode.HowReturned.choices)
    return_notes = text()


class SafeAndWellSerializer(StrictSerializer):
    officer_name = text(200, required=True)
    conducted_at = serializers.DateTimeField()
    face_to_face = StrictBooleanField()
    outcome = text(required=True)
    harm_disclosed = flag()
    crime_disclosed = flag()
    disclosure_details = text()
    shared_with_la_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    shared_method = serializers.ChoiceField(
        choices=SharingMethod.choices, required=False, allow_blank=True, default=""
    )
    shared_with = text(200)


class PlacementInSerializer(StrictSerializer):
    start = serializers.DateField(help_text="With the child, the placement's key.")
    end = serializers.DateField(required=False, allow_null=True, default=None)
    type = serializers.ChoiceField(choices=Placement.Type.choices)
    carer_name = text(200)
    address = text(required=True)
    postcode = text(8, required=True)
    host_area = text(9, required=True, help_text="ONS code of the council the placement is in.")


class CouncilChildSerializer(StrictSerializer):
    first_name = text(100, required=True)
    last_name = text(100, required=True)
    known_as = text(100)
    date_of_birth = serializers.DateField()
    gender = serializers.ChoiceField(choices=Gender.choices)
    nhs_number = text(12)
    responsible_area = text(
        9, required=True, help_text="ONS code of the responsible council: one the system's serves."
    )
    legal_status = serializers.ChoiceField(choices=LegalStatus.choices)
    legal_status_start = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the legal status began: needed when it is new or changes.",
    )
    placements = PlacementInSerializer(
        many=True,
        required=False,
        help_text="Placements by start date: one not yet recorded is added; an "
        "end given for an open one ends it. Placements left out are not changed.",
    )


# Output ---------------------------------------------------------------------------------


class ChildSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Child
        fields = ["id", "police_person_reference", "to_be_matched_by_council"]
        read_only_fields = fields


class EpisodeSerializer(serializers.ModelSerializer):
    child = ChildSummarySerializer(read_only=True)
    safe_and_well_recorded = serializers.SerializerMethodField()

    class Meta:
        model = Episode
        fields = [
            "id",
            "child",
            "police_reference",
            "category",
            "risk",
            "reported_at",
            "last_seen_at",
            "found_at",
            "how_returned",
            "safe_and_well_recorded",
            "closed_at",
            "version",
        ]
        read_only_fields = fields

    def get_safe_and_well_recorded(self, episode: Episode) -> bool:
        # Annotated by api.views.episode_queryset, so a list costs no query per row.
        return bool(episode.safe_and_well_recorded)


class ReportResultSerializer(serializers.Serializer):
    episode = EpisodeSerializer()
    child_matched_by = serializers.ChoiceField(
        choices=[
            ("police_person_reference", "The force's person reference"),
            ("name_and_date_of_birth", "Name and date of birth"),
            ("added", "No match: added, to be matched by the council"),
        ]
    )


class RiskGradingResultSerializer(serializers.Serializer):
    episode = EpisodeSerializer()
    grade = serializers.CharField()
    graded_at = serializers.DateTimeField()


class PlacementOutSerializer(serializers.ModelSerializer):
    host_area = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Placement
        fields = ["id", "start", "end", "type", "host_area"]
        read_only_fields = fields


class CouncilChildResultSerializer(serializers.ModelSerializer):
    responsible_area = serializers.SlugRelatedField(slug_field="code", read_only=True)
    placements = PlacementOutSerializer(many=True, read_only=True)

    class Meta:
        model = Child
        fields = [
            "id",
            "la_child_id",
            "responsible_area",
            "legal_status",
            "to_be_matched_by_council",
            "placements",
            "version",
        ]
        read_only_fields = fields


class EventChildSerializer(serializers.ModelSerializer):
    class Meta:
        model = Child
        fields = ["id", "police_person_reference", "la_child_id"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    """A protocol event as every person of the agency sees it on the child's timeline:
    what happened, when, which agency recorded it and the timeline's sentence. Never
    the event's internal facts, nor who recorded it by name."""

    child = EventChildSerializer(read_only=True)
    episode = serializers.IntegerField(source="episode_id", allow_null=True, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    recorded_by_agency = serializers.CharField(source="actor_agency.name", read_only=True)

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "kind",
            "kind_label",
            "child",
            "episode",
            "occurred_at",
            "recorded_at",
            "recorded_by_agency",
            "summary",
        ]
        read_only_fields = fields


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    next = serializers.CharField(
        help_text="The address of the next page: call it until events is empty, then "
        "call it again later for new events."
    )


class ProblemFieldSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field concerned, dotted; empty for the whole.")
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField()
    errors = ProblemFieldSerializer(many=True, required=False)
