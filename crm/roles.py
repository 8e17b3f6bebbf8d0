"""Roles as groups with permissions: what a rep and a manager may do."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

REP = "Rep"
MANAGER = "Manager"

# (app_label, model) -> actions. Consent records and suppressions are never deleted by anyone.
ROLE_PERMISSIONS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    REP: {
        ("leads", "lead"): ("view", "change"),
        ("leads", "contactattempt"): ("view", "add"),
        ("compliance", "consentrecord"): ("view",),
        ("compliance", "suppression"): ("view", "add"),
        ("leads", "touch"): ("view", "add"),
        ("leads", "conversion"): ("view", "add"),
        ("leads", "leadnote"): ("view", "add"),
        ("leads", "leadreturn"): ("view", "add"),
    },
    MANAGER: {
        ("leads", "leadsource"): ("view", "add", "change", "delete"),
        ("leads", "lead"): ("view", "add", "change", "delete"),
        ("leads", "contactattempt"): ("view", "add", "change"),
        ("leads", "repprofile"): ("view", "add", "change", "delete"),
        ("leads", "leadassignment"): ("view",),
        ("leads", "importrun"): ("view", "add"),
        ("compliance", "consentrecord"): ("view", "add", "change"),
        ("compliance", "suppression"): ("view", "add", "change"),
        ("compliance", "dnclist"): ("view", "add"),
        ("compliance", "contactdecision"): ("view",),
        ("leads", "touch"): ("view",),
        ("leads", "conversion"): ("view", "add"),
        ("leads", "leadnote"): ("view", "add"),
        ("leads", "alert"): ("view",),
        # Returns are decided (accepted, rejected) by admin actions needing "change".
        ("leads", "leadreturn"): ("view", "add", "change"),
        ("leads", "feedbackevent"): ("view", "change"),  # change: re-send
        ("leads", "feedbackdelivery"): ("view",),
        ("leads", "apitoken"): ("view", "change"),  # change: revoke
        ("leads", "scoringfactor"): ("view", "add", "change"),
        ("leads", "cadence"): ("view", "add", "change"),
        ("leads", "cadencestep"): ("view", "add", "change", "delete"),
        ("leads", "cadenceenrollment"): ("view",),
        # The dashboard (leads.feedback.admin_dashboard) shows these rollups.
        ("leads", "sourcedayrollup"): ("view",),
        ("leads", "repdayrollup"): ("view",),
        ("auth", "user"): ("view", "add", "change"),
        ("django_celery_beat", "periodictask"): ("view", "add", "change", "delete"),
        # Locked-out sign-ins: deleting an attempt unlocks it.
        ("axes", "accessattempt"): ("view", "delete"),
        ("axes", "accessfailurelog"): ("view",),
    },
}


def _permissions_for(grants: dict[tuple[str, str], tuple[str, ...]]):
    query = Q(pk__in=[])
    for (app_label, model), actions in grants.items():
        codenames = [f"{action}_{model}" for action in actions]
        codenames += [f"{action}_historical{model}" for action in actions if action == "view"]
        query |= Q(content_type__app_label=app_label, codename__in=codenames)
    return Permission.objects.filter(query)


def roles_sync() -> None:
    """Create the role groups and set exactly the permissions listed above."""
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions_for(grants))


def roles_sync_after_migrate(sender, app_config=None, using="default", plan=None, **kwargs):
    # Run once, after the last app's permissions exist.
    if app_config is not None and app_config.label == "compliance" and plan is not False:
        roles_sync()


def user_is_manageable_by(*, user, actor) -> bool:
    """Say whether `actor` may change `user`'s account (details, password, groups).

    A superuser may change anyone. A manager may change the people they manage, reps and
    other non-staff users, never a superuser, a staff user or another manager, nor themselves
    (a manager changes their own password on the admin's password page).
    """
    if actor.is_superuser:
        return True
    if user.pk is None:
        return True  # a new account: what it may be given is limited by grantable_groups
    return not (user.is_superuser or user.is_staff or user.groups.filter(name=MANAGER).exists())


def grantable_groups(*, actor):
    """Return the role groups `actor` may give to an account."""
    if actor.is_superuser:
        return Group.objects.all()
    return Group.objects.filter(name=REP)
