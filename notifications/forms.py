"""What a person writes about notifications: their own preferences, and a team's webhook."""

from __future__ import annotations

from django import forms

from notifications import webhooks
from notifications.errors import Refused
from notifications.models import Kind, Webhook


class PreferenceForm(forms.Form):
    email_address = forms.EmailField(
        label="E-mail address", required=False, help_text="Where Swarm writes to you; empty: no e-mail."
    )
    email = forms.BooleanField(label="Send me e-mail", required=False)
    kinds = forms.MultipleChoiceField(
        label="Tell me when", choices=Kind.choices, widget=forms.CheckboxSelectMultiple, required=False
    )


class WebhookForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        label="Send", choices=Kind.choices, widget=forms.CheckboxSelectMultiple, initial=Kind.values
    )

    class Meta:
        model = Webhook
        fields = ["name", "url"]
        labels = {"url": "URL"}
        help_texts = {"url": "http:// or https://, on a host the operator allows (SWARM_WEBHOOK_HOSTS)."}

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Webhook.objects.in_team(self.team).filter(name=name).exists():
            raise forms.ValidationError("is taken by another webhook of this team.")
        return name

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        try:
            webhooks.check_url(url)
        except Refused as refused:
            raise forms.ValidationError(refused.message) from None
        return url
