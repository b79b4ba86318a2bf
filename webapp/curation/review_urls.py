from __future__ import annotations

from django.urls import path

from webapp.curation import dashboard_views, review_views

app_name = "review"
urlpatterns = [
    path("", review_views.queue, name="queue"),
    path("next/", review_views.next_item, name="next"),
    path("q/<int:pk>/", review_views.item, name="item"),
    path("q/<int:pk>/previous/", review_views.previous, name="previous"),
    path("q/<int:pk>/spectrogram.json", review_views.spectrogram, name="spectrogram"),
    path("chains/<int:pk>/decide/", review_views.decide, name="decide"),
    path("chains/<int:pk>/undo/", review_views.undo, name="undo"),
    path("bulk/", review_views.bulk, name="bulk"),
    path("bulk/<int:pk>/", review_views.bulk_detail, name="bulk_detail"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
]
