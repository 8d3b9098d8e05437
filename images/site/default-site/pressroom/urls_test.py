"""Production's URLs plus test aids: /slow, a request that takes a while (to show draining),
and /upload, which stores a file in the media volume."""

from django.urls import path

from press import views
from pressroom.urls import urlpatterns as production

urlpatterns = [*production, path("slow", views.slow, name="slow"), path("upload", views.upload, name="upload")]
