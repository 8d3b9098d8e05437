from django.db import models


class PressRelease(models.Model):
    """A press release, as the old sites published them."""

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField()
    published = models.DateField()

    class Meta:
        ordering = ["-published", "slug"]

    def __str__(self) -> str:
        return self.title
