from django.urls import path

from tutela.signin import views

app_name = "signin"

urlpatterns = [
    path("welcome/", views.set_password, name="set_password"),
    path("password/forgot/", views.forgot_password, name="forgot_password"),
    path("users/new/", views.user_new, name="user_new"),
]
