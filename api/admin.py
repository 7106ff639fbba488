"""Connected systems, for partnership admins only: register one (its token is shown
once), change what it may do, rotate or revoke its token. Nobody deletes one: the
access log keeps naming it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from missingkids.accounts import access
from missingkids.accounts.models import Agency

from . import tokens
from .models import COUNCIL_OPERATIONS, POLICE_OPERATIONS, ApiClient, Operation


class ApiClientForm(forms.ModelForm):
    operations = forms.MultipleChoiceField(
        label="Allowed operations",
        choices=Operation.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Every system may read the episodes its agency may see. Keeping children "
        "up to date is for a council's children's services; the rest for police forces.",
    )

    class Meta:
        model = ApiClient
        fields = ["name", "agency", "operations", "contact_email"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = Agency.objects.filter(active=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        agency = data.get("agency")
        police_only = set(data.get("operations") or []) & POLICE_OPERATIONS
        council_only = set(data.get("operations") or []) & COUNCIL_OPERATIONS
        if agency is not None and police_only and agency.kind != Agency.Kind.POLICE:
            self.add_error("operations", "These operations are for police forces' systems only.")
        if agency is not None and council_only and not agency.is_local_authority:
            self.add_error(
                "operations",
                "Keeping children up to date is for a council's children's services only.",
            )
        return data


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "agency", "operations_text", "token_prefix", "status"]
    list_filter = ["agency"]
    search_fields = ["name", "contact_email", "token_prefix"]
    readonly_fields = [
        "token_prefix",
        "token_issued_at",
        "token_issued_by",
        "revoked_at",
        "revoked_by",
        "created_at",
    ]
    actions = ["rotate_token", "revoke_token"]

    # Partnership admins only, whatever the Django permissions say.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.is_partnership_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.is_partnership_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return access.is_partnership_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.is_partnership_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiClient]:
        return super().get_queryset(request).select_related("agency")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["name", "agency", "operations", "contact_email"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Allowed operations")
    def operations_text(self, obj: ApiClient) -> str:
        labels = dict(Operation.choices)
        return ", ".join(labels.get(op, op) for op in obj.operations) or "Read only"

    @admin.display(description="Token")
    def status(self, obj: ApiClient) -> str:
        return "Revoked" if obj.is_revoked else "In use"

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        if change:
            with transaction.atomic():
                stored = ApiClient.objects.select_related("agency").get(pk=obj.pk)
                obj.save()
                tokens.sync_service_user(obj)
                tokens.system_change_record(
                    obj,
                    before=tokens.system_snapshot(stored),
                    by=request.user,
                    old_agency_id=stored.agency_id,
                )
        else:
            request.issued_api_token = tokens.register(obj, by=request.user)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiClient, *args: Any) -> HttpResponse:
        token = getattr(request, "issued_api_token", None)
        if token:
            return self._show_token(request, obj, token, "registered")
        return super().response_add(request, obj, *args)

    def _show_token(
        self, request: HttpRequest, client: ApiClient, token: str, what: str
    ) -> HttpResponse:
        """The token, on this page only: it is not stored and cannot be shown again."""
        response = TemplateResponse(
            request,
            "api/admin/token.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Token for {client.name}",
                "client": client,
                "token": token,
                "what": what,
                "opts": self.model._meta,
            },
        )
        response["Cache-Control"] = "no-store, private"
        return response

    @admin.action(description="Issue a new token (the old one stops working)")
    def rotate_token(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> Any:
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(
                request, "Choose one system: its new token is shown once.", messages.ERROR
            )
            return None
        client = chosen[0]
        token = tokens.rotate_token(client=client, by=request.user)
        self.log_change(request, client, "Issued a new token.")
        return self._show_token(request, client, token, "issued again")

    @admin.action(description="Revoke the token (the system can no longer call)")
    def revoke_token(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            tokens.revoke_token(client=client, by=request.user)
            self.log_change(request, client, "Revoked the token.")
        self.message_user(request, "The tokens were revoked.", messages.SUCCESS)
