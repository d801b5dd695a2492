# The conversation leaves the agent row: one row per message (issue 9). This migration makes the table and copies
# every agent's conversation into it; 0010 drops the column (apart, so PostgreSQL alters the agent table in a
# transaction of its own, not after inserts whose foreign-key checks are still pending).

import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000


def copy_into_entries(apps, schema_editor):
    Agent = apps.get_model("agents", "Agent")
    ConversationEntry = apps.get_model("agents", "ConversationEntry")
    batch = []
    for agent_id, conversation in Agent.objects.order_by("pk").values_list("pk", "conversation").iterator(100):
        for position, message in enumerate(conversation or []):
            batch.append(ConversationEntry(agent_id=agent_id, position=position, message=message))
            if len(batch) >= BATCH:
                ConversationEntry.objects.bulk_create(batch)
                batch = []
    ConversationEntry.objects.bulk_create(batch)


def copy_back_into_rows(apps, schema_editor):
    Agent = apps.get_model("agents", "Agent")
    ConversationEntry = apps.get_model("agents", "ConversationEntry")
    for agent_id in ConversationEntry.objects.values_list("agent_id", flat=True).distinct():
        messages = ConversationEntry.objects.filter(agent_id=agent_id).order_by("position")
        Agent.objects.filter(pk=agent_id).update(conversation=list(messages.values_list("message", flat=True)))


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0009_model_profile_rate_limit'),
    ]

    operations = [
        migrations.CreateModel(
            name='ConversationEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('message', models.JSONField()),
                ('agent', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='conversation_entries', to='agents.agent')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('agent', 'position'), name='conversation_position_unique_per_agent')],
            },
        ),
        migrations.RunPython(copy_into_entries, copy_back_into_rows),
    ]
