"""The review pages under /review/ (URL names in the `review` namespace)."""

from __future__ import annotations

from django.urls import path

from webapp.curation.review import adjudication_views, views

app_name = "review"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.next_item, name="next"),
    path("q/<int:pk>/", views.item, name="item"),
    path("q/<int:pk>/previous/", views.previous, name="previous"),
    path("q/<int:pk>/spectrogram.json", views.spectrogram, name="spectrogram"),
    path("chains/<int:pk>/decide/", views.decide, name="decide"),
    path("chains/<int:pk>/undo/", views.undo, name="undo"),
    path("bulk/", views.bulk, name="bulk"),
    path("bulk/<int:pk>/", views.bulk_detail, name="bulk_detail"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("datasets/<slug:slug>/order/", views.order, name="order"),
    path("adjudication/", adjudication_views.queue, name="adjudication"),
    path("adjudication/<int:pk>/", adjudication_views.adjudicate, name="adjudicate"),
]
