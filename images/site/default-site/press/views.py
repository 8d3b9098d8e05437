import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_page
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from press.models import PressRelease
from press.orders import next_order_id

log = logging.getLogger(__name__)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    latest = PressRelease.objects.all()[:5]
    return render(request, "press/home.html", {"latest": latest, "release": settings.RELEASE})


@require_GET
@cache_page(60)
def press_list(request: HttpRequest) -> HttpResponse:
    """The whole archive; rendered once a minute per release, then served from memcached."""
    releases = PressRelease.objects.all()
    return render(request, "press/list.html", {"releases": releases, "release": settings.RELEASE})


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # any driver error means the database cannot serve us
        log.warning("health: database unreachable: %s", error)
        connection.close_if_unusable_or_obsolete()
        return "down"


def _cache_state() -> str:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    state = "ok" if cache.get(key) == "ok" else "degraded"
    cache.delete(key)
    return state


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """503 only when the database is unreachable; a memcached outage is merely degraded."""
    db = _database_state()
    body = {"release": settings.RELEASE, "color": settings.COLOR, "db": db, "cache": _cache_state()}
    return JsonResponse(body, status=200 if db == "ok" else 503)


@require_GET
def slow(request: HttpRequest) -> JsonResponse:
    """Answers after ?seconds= (at most 10): a long request, to show draining works. Only in
    the test settings' URLs (pressroom.urls_test), never in production's."""
    try:
        seconds = min(max(float(request.GET.get("seconds", "2")), 0.0), 10.0)
    except ValueError:
        seconds = 2.0
    time.sleep(seconds)
    return JsonResponse({"release": settings.RELEASE, "color": settings.COLOR, "slept": seconds})


@csrf_exempt
@require_POST
def orders(request: HttpRequest) -> JsonResponse:
    order_id = next_order_id(settings.STATE_DIR)
    log.info("order %d placed", order_id)
    return JsonResponse({"id": order_id})


@csrf_exempt
@require_POST
def upload(request: HttpRequest) -> JsonResponse:
    """Stores the posted file under MEDIA_ROOT and says where it is served. Only in the test
    settings' URLs (pressroom.urls_test): a test of shared uploads, not a public form."""
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse({"error": "no file"}, status=400)
    name = default_storage.save(f"uploads/{uploaded.name}", uploaded)
    return JsonResponse({"url": default_storage.url(name), "color": settings.COLOR})
