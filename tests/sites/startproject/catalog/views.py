from django import forms
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from .models import Picture, TaskRun, Tick
from .tasks import record


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


@csrf_exempt
def tasks(request):
    if request.method == 'POST':
        record.delay(request.POST['token'])
        return JsonResponse({'queued': request.POST['token']}, status=202)
    runs = {}
    for token in TaskRun.objects.values_list('token', flat=True):
        runs[token] = runs.get(token, 0) + 1
    return JsonResponse({'runs': runs, 'ticks': Tick.objects.count()})
