import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


# Before roles, every member could do everything. "owner" (the seeded admin account) becomes admin; "member"
# becomes operator, the role closest to what members did day to day; and a team left without an admin gets its
# earliest member as admin, so someone can hand out the reviewer role (operators cannot approve).
OLD_ROLES = {"owner": "admin", "member": "operator"}


def assign_roles(apps, schema_editor):
    Membership = apps.get_model("agents", "Membership")
    for old, new in OLD_ROLES.items():
        Membership.objects.filter(role=old).update(role=new)
    Membership.objects.exclude(role__in=["viewer", "operator", "reviewer", "admin"]).update(role="operator")
    for team_id in Membership.objects.values_list("team_id", flat=True).distinct():
        if not Membership.objects.filter(team_id=team_id, role="admin").exists():
            first = Membership.objects.filter(team_id=team_id).order_by("id").first()
            Membership.objects.filter(pk=first.pk).update(role="admin")


def back_to_old_roles(apps, schema_editor):
    Membership = apps.get_model("agents", "Membership")
    Membership.objects.filter(role="admin").update(role="owner")
    Membership.objects.exclude(role="owner").update(role="member")


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_schedule"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="membership",
            options={"ordering": ["id"]},
        ),
        migrations.AddField(
            model_name="membership",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[("viewer", "viewer"), ("operator", "operator"), ("reviewer", "reviewer"), ("admin", "admin")],
                default="viewer",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="membership",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="agents.team"
            ),
        ),
        migrations.AlterField(
            model_name="membership",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.CreateModel(
            name="Invite",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("viewer", "viewer"),
                            ("operator", "operator"),
                            ("reviewer", "reviewer"),
                            ("admin", "admin"),
                        ],
                        max_length=20,
                    ),
                ),
                ("digest", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField()),
                ("used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="invites", to="agents.team"
                    ),
                ),
                (
                    "used_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.RunPython(assign_roles, back_to_old_roles),
    ]
