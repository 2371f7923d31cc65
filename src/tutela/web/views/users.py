"""Users' roles and user groups: a list, and a page to change one user's role and groups.

The list needs `read` on `user`; changes need `write` on `user`, and a role can be given or
taken away only when the acting user's role lists it as grantable (tutela.access.actions, which
also writes the audit entries). A role with record scope "all" lists every user; other roles
list the users of their own agency.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from tutela.access import actions
from tutela.access.models import RecordScope, Role, User, UserGroup
from tutela.access.permissions import can, scope_of
from tutela.web.decorators import signed_in
from tutela.web.views.records import signed_in_user


def listed_users(viewer: User) -> QuerySet[User]:
    users = User.objects.select_related("agency", "role").prefetch_related("user_groups")
    if scope_of(viewer) == RecordScope.ALL:
        return users
    return users.filter(agency_id=viewer.agency_id) if viewer.agency_id else users.none()


def require_user_permission(viewer: User, action: str) -> None:
    if not can(viewer, "user", action):
        raise PermissionDenied(_("Your role does not allow managing users."))


@require_GET
@signed_in
def user_list(request: HttpRequest) -> HttpResponse:
    viewer = signed_in_user(request)
    require_user_permission(viewer, "read")
    users = listed_users(viewer).order_by("username")
    return render(
        request,
        "web/users/list.html",
        {
            "users": users,
            "may_change": can(viewer, "user", "write"),
            "may_create": can(viewer, "user", "create"),
        },
    )


@require_http_methods(["GET", "POST"])
@signed_in
def user_access(request: HttpRequest, user_id: int) -> HttpResponse:
    viewer = signed_in_user(request)
    require_user_permission(viewer, "write")
    user = get_object_or_404(listed_users(viewer), pk=user_id)
    grantable = actions.grantable_roles(viewer)
    roles = Role.objects.filter(unique_id__in=grantable, disabled=False).order_by("unique_id")
    groups = UserGroup.objects.filter(disabled=False).order_by("unique_id")

    if request.method == "POST":
        wanted_role = request.POST.get("role") or None
        wanted_groups = request.POST.getlist("groups")
        current_role = user.role.unique_id if user.role else None
        try:
            if wanted_role != current_role:
                actions.set_role(viewer, user, wanted_role)
            actions.set_user_groups(viewer, user, wanted_groups)
        except (actions.AccessDenied, actions.AccessChangeInvalid) as e:
            messages.error(request, str(e))
        else:
            messages.success(
                request, _("Saved the role and user groups of %(user)s.") % {"user": user.username}
            )
            return redirect("web:users")

    return render(
        request,
        "web/users/access.html",
        {
            "person": user,
            "roles": roles,
            "role_locked": user.role is not None and user.role.unique_id not in grantable,
            "groups": groups,
            "member_of": set(user.user_groups.values_list("unique_id", flat=True)),
        },
    )
