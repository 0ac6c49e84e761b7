from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from assistant.answering.cache import on_documents_changed
        from ingest.signals import documents_changed

        # a changed document deletes the cached answers that cite it, in the change's transaction
        documents_changed.connect(on_documents_changed, dispatch_uid="assistant.answering.cache")
