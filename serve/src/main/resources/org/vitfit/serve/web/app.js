'use strict';
// The page of 'vitfit serve': pick or drop an image, POST it to /predict as multipart/form-data, show the answer.
(function () {
  const $ = (id) => document.getElementById(id);
  const input = $('file-input');
  const dropZone = $('drop-zone');
  const result = $('result');
  const preview = $('preview');
  const errorBox = $('error');
  let info = null;
  let previewUrl = null;

  fetch('info').then((r) => r.json()).then((i) => {
    info = i;
    let text = i.labels.length + ' labels, ' + (i.task === 'multilabel' ? 'multi-label' : 'one label per image');
    if (i.backbone) {
      text += ' \u00b7 ' + i.backbone + (i.head ? ' + ' + i.head + ' head' : '');
    }
    if (i.metric) {
      text += ' \u00b7 ' + i.metric.split + ' ' + (i.metric.name === 'accuracy' ? 'accuracy' : 'micro-F1') + ' '
          + (100 * i.metric.value).toFixed(1) + '% on ' + i.metric.examples + ' images';
    }
    $('model-info').textContent = text;
    $('limits').textContent = 'Up to ' + (i.maxUploadBytes / 1048576).toFixed(0) + ' MB and '
        + (i.maxPixels / 1e6).toFixed(0) + ' megapixels; JPEG, PNG, GIF, BMP, WebP or TIFF.';
  }).catch(() => { $('model-info').textContent = 'Could not load the model description.'; });

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    result.dataset.state = 'error';
  }

  function render(answer) {
    $('top-label').textContent = answer.top[0].label;
    const list = $('score-list');
    list.replaceChildren();
    for (const entry of answer.top) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'label';
      name.textContent = entry.label;
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.className = 'fill';
      fill.style.width = (100 * entry.score).toFixed(1) + '%';
      bar.appendChild(fill);
      const pct = document.createElement('span');
      pct.className = 'pct';
      pct.textContent = (100 * entry.score).toFixed(1) + '%';
      li.append(name, bar, pct);
      list.appendChild(li);
    }
    const active = $('active-labels');
    if (answer.task === 'multilabel') {
      active.textContent = answer.labels.length
          ? 'Labels above their thresholds: ' + answer.labels.join(', ')
          : 'No label is above its threshold.';
      active.hidden = false;
    } else {
      active.hidden = true;
    }
    $('image-caption').textContent = (answer.file || 'image') + ' \u00b7 ' + answer.image.width + '\u00d7'
        + answer.image.height;
    $('timing').textContent = 'Classified in ' + answer.millis + ' ms.';
    result.dataset.state = 'done';
  }

  function classify(file) {
    errorBox.hidden = true;
    if (previewUrl) {
      URL.revokeObjectURL(previewUrl);
    }
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    result.hidden = false;
    result.dataset.state = 'busy';
    $('top-label').textContent = 'Classifying\u2026';
    $('score-list').replaceChildren();
    $('active-labels').hidden = true;
    $('image-caption').textContent = file.name;
    $('timing').textContent = '';
    if (info && file.size > info.maxUploadBytes) {
      showError(file.name + ' is ' + (file.size / 1048576).toFixed(1) + ' MB, over the server\u2019s limit.');
      $('top-label').textContent = '';
      return;
    }
    const form = new FormData();
    form.append('image', file, file.name);
    const k = info ? Math.min(5, info.labels.length) : 5;
    fetch('predict?top_k=' + k, { method: 'POST', body: form })
      .then((r) => r.json().then((body) => {
        if (!r.ok) {
          throw new Error(body.error ? body.error.message : 'HTTP ' + r.status);
        }
        render(body);
      }))
      .catch((e) => {
        $('top-label').textContent = '';
        showError(e.message);
      });
  }

  input.addEventListener('change', () => {
    if (input.files.length) {
      classify(input.files[0]);
    }
  });
  for (const type of ['dragenter', 'dragover']) {
    dropZone.addEventListener(type, (e) => {
      e.preventDefault();
      dropZone.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    dropZone.addEventListener(type, () => dropZone.classList.remove('dragging'));
  }
  dropZone.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) {
      classify(e.dataTransfer.files[0]);
    }
  });
})();
