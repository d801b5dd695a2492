# The conversation column goes: 0009 copied it into agents_conversationentry.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0010_conversation_entries'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='agent',
            name='conversation',
        ),
    ]
