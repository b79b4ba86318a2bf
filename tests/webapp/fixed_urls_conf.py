"""A URLconf whose 'review:queue' and 'review:item' lie elsewhere, for tests/webapp/test_fixed_urls.py."""

from django.http import HttpResponse
from django.urls import include, path

queue_patterns = ([path("elsewhere/", lambda request: HttpResponse(), name="queue"),
                   path("item/<int:pk>/", lambda request, pk: HttpResponse(), name="item")], "review")
urlpatterns = [path("moved/", include(queue_patterns))]
