from django.urls import path
from django.views.i18n import set_language

from tutela.web.views import auth, cases, editing

app_name = "web"

urlpatterns = [
    path("", cases.home, name="home"),
    path("sign-in/", auth.SignInView.as_view(), name="login"),
    path("sign-out/", auth.SignOutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("language/", set_language, name="set_language"),
    path("cases/", cases.case_list, name="case_list"),
    path("cases/new", editing.case_new, name="case_new"),
    path("cases/<uuid:record_id>/", cases.case_view, name="case_view"),
    path("cases/<uuid:record_id>/history", cases.case_history, name="case_history"),
    path(
        "cases/<uuid:record_id>/sections/<slug:section_id>/edit",
        editing.section_edit,
        name="section_edit",
    ),
]
