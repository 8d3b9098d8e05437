"""Production's URLs plus /slow, a request that takes a while (to show draining)."""

from django.urls import path

from press import views
from pressroom.urls import urlpatterns as production

urlpatterns = [*production, path("slow", views.slow, name="slow")]
