from django.urls import path
from django.views.i18n import set_language

from tutela.signin.views import SignInView
from tutela.web import record_urls
from tutela.web.views import audit, auth, home, users
from tutela.web.views import configuration as config

app_name = "web"

urlpatterns = [
    path("", home.home, name="home"),
    path("sign-in/", SignInView.as_view(), name="login"),
    path("sign-out/", auth.SignOutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("language/", set_language, name="set_language"),
    # Records of every type, cases also under /cases/, and their attachments.
    *record_urls.urlpatterns,
    # The audit log for auditors; each record's access log is among the record routes.
    path("audit/", audit.audit_log, name="audit_log"),
    path("audit/export", audit.audit_export, name="audit_export"),
    # Users' roles and user groups.
    path("users/", users.user_list, name="users"),
    path("users/<int:user_id>/access", users.user_access, name="user_access"),
    # Configuration screens for administrators.
    path("configuration/", config.overview, name="config_overview"),
    path("configuration/locations/", config.locations, name="config_locations"),
    path("configuration/lookups/new", config.lookup_new, name="config_lookup_new"),
    path("configuration/lookups/<slug:lookup>/", config.lookup_view, name="config_lookup"),
    path(
        "configuration/lookups/<slug:lookup>/options/new",
        config.option_new,
        name="config_option_new",
    ),
    path(
        "configuration/lookups/<slug:lookup>/options/<path:option>/",
        config.option_edit,
        name="config_option",
    ),
    path(
        "configuration/lookups/<slug:lookup>/options/<path:option>/move",
        config.option_move,
        name="config_option_move",
    ),
    path(
        "configuration/types/<slug:record_type>/",
        config.record_type_view,
        name="config_record_type",
    ),
    path(
        "configuration/types/<slug:record_type>/groups/new",
        config.group_new,
        name="config_group_new",
    ),
    path(
        "configuration/types/<slug:record_type>/groups/<slug:group>/",
        config.group_edit,
        name="config_group",
    ),
    path(
        "configuration/types/<slug:record_type>/groups/<slug:group>/move",
        config.group_move,
        name="config_group_move",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/new",
        config.section_new,
        name="config_section_new",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/",
        config.section_view,
        name="config_section",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/move",
        config.section_move,
        name="config_section_move",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/remove",
        config.section_remove,
        name="config_section_remove",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/fields/new",
        config.field_new,
        name="config_field_new",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/fields/<slug:name>/",
        config.field_view,
        name="config_field",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/fields/<slug:name>/move",
        config.field_move,
        name="config_field_move",
    ),
    path(
        "configuration/types/<slug:record_type>/sections/<slug:section>/fields/<slug:name>/remove",
        config.field_remove,
        name="config_field_remove",
    ),
]
