from django.db import models


class Picture(models.Model):
    title = models.CharField(max_length=200)
    image = models.FileField(upload_to='pictures/')
    uploaded = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ['-uploaded']

    def __str__(self):
        return self.title


class TaskRun(models.Model):
    token = models.CharField(max_length=100)
    finished = models.DateTimeField(auto_now_add=True)


class Tick(models.Model):
    at = models.DateTimeField(auto_now_add=True)
