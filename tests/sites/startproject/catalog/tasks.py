import time

from celery import shared_task

from .models import TaskRun, Tick


@shared_task
def record(token):
    time.sleep(0.5)
    TaskRun.objects.create(token=token)


@shared_task
def tick():
    Tick.objects.create()
