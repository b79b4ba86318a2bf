from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path

from webapp.core import views as core_views
from webapp.core.navigation import LoginView

urlpatterns = [
    path("login/", login_not_required(LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("rq/", include("django_rq.urls")),
    re_path(r"^files/(?P<path>.+)$", core_views.media, name="media"),
    path("runs/", include("webapp.curation.urls")),
    path("review/", include("webapp.curation.review.urls")),
    path("", include("webapp.training.urls")),
    path("", include("webapp.catalog.urls")),
]
