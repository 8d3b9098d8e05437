from django.db import models


class Picture(models.Model):
    title = models.CharField(max_length=200)
    image = models.FileField(upload_to='pictures/')
    uploaded = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ['-uploaded']

    def __str__(self):
        return self.title
