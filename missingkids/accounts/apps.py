from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "missingkids.accounts"
    label = "accounts"
    verbose_name = "Agencies and people"
