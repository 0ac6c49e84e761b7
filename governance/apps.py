from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # The sign-in trail hangs on Django's auth signals, the only hook a sign-in offers.
        from governance import signin_audit

        signin_audit.connect()
