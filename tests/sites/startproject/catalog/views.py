from django import forms
from django.shortcuts import redirect, render

from .models import Picture


class PictureForm(forms.ModelForm):
    class Meta:
        model = Picture
        fields = ['title', 'image']


def index(request):
    return render(request, 'catalog/index.html', {'pictures': Picture.objects.all()[:50], 'form': PictureForm()})


def upload(request):
    form = PictureForm(request.POST or None, request.FILES or None)
    if request.method == 'POST' and form.is_valid():
        form.save()
        return redirect('catalog:index')
    return render(request, 'catalog/index.html', {'pictures': Picture.objects.all()[:50], 'form': form}, status=400 if request.method == 'POST' else 200)
