from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    """The service's own configuration pages for admins (people, agencies and their
    contacts, areas, notification rules), at ``/configuration/``."""

    name = "configuration"
    verbose_name = "Configuration"
