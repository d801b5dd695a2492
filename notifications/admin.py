"""The operator's view of notifications (`/admin/`): read-only; a webhook's secret is never shown, even here."""

from django.contrib import admin

from notifications.models import Delivery, Notice, Preference, Webhook


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notice)
class NoticeAdmin(ReadOnly):
    list_display = ["created_at", "team", "kind", "text"]
    list_filter = ["kind", "team"]
    search_fields = ["text"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ["created_at", "team", "channel", "status", "attempts", "response_code", "last_error"]
    list_filter = ["status", "channel", "team"]
    exclude = ["notices"]


@admin.register(Webhook)
class WebhookAdmin(ReadOnly):
    list_display = ["name", "team", "url", "active", "created_at"]
    list_filter = ["team", "active"]
    exclude = ["secret"]


@admin.register(Preference)
class PreferenceAdmin(ReadOnly):
    list_display = ["user", "email", "kinds"]
