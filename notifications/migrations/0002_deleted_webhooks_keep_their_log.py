# A deleted webhook's deliveries stay in the team's log, under the name the webhook had (SET_NULL, webhook_name).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0001_notifications'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='delivery',
            name='delivery_has_one_recipient',
        ),
        migrations.AddField(
            model_name='delivery',
            name='webhook_name',
            field=models.CharField(blank=True, default='', max_length=100),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='webhook',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='deliveries', to='notifications.webhook'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('channel', 'email'), ('user__isnull', False), ('webhook__isnull', True)), models.Q(('channel', 'webhook'), ('user__isnull', True), ('webhook__isnull', False)), models.Q(('channel', 'webhook'), ('user__isnull', True), ('webhook__isnull', True), models.Q(('webhook_name', ''), _negated=True)), _connector='OR'), name='delivery_has_one_recipient'),
        ),
    ]
