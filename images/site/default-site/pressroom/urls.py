from django.urls import path

from press import views

urlpatterns = [
    path("", views.home, name="home"),
    path("press/", views.press_list, name="press-list"),
    path("healthz", views.healthz, name="healthz"),
    path("orders", views.orders, name="orders"),
]
