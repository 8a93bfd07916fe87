from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password-change"),
    path("roles/", views.user_roles, name="user-roles"),
    path("roles/<int:user_id>/", views.assign_role, name="assign-role"),
    path("tokens/", views.token_list, name="token-list"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("tokens/<int:token_id>/rotate/", views.token_rotate, name="token-rotate"),
    path("policy/", views.policy, name="security-policy"),
]
