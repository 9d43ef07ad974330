// photos.js — a follow-up's photos in the sheet: thumbnails made in the
// browser (createImageBitmap with a resize, drawn on a canvas: the server
// never decodes an image, and no image bytes go through innerHTML or a
// blob: URL the CSP would have to allow).  Each thumbnail links to the
// full photo, GET /api/blobs/SHA256, which applies the sync rule: only a
// user who may see the follow-up gets the bytes.

import { h } from './dom.js';
import { t } from './i18n.js';

const THUMB = 96; // CSS pixels, the longer side

async function drawThumb(canvas, sha) {
  const res = await fetch(`/api/blobs/${sha}`, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(String(res.status));
  const blob = await res.blob();
  // Decode once at full size to learn the shape, then scale while decoding.
  const probe = await createImageBitmap(blob);
  const scale = Math.min(1, THUMB / Math.max(probe.width, probe.height));
  const w = Math.max(1, Math.round(probe.width * scale));
  const hgt = Math.max(1, Math.round(probe.height * scale));
  probe.close();
  const bmp = await createImageBitmap(blob, { resizeWidth: w, resizeHeight: hgt, resizeQuality: 'medium' });
  canvas.width = w;
  canvas.height = hgt;
  canvas.getContext('2d').drawImage(bmp, 0, 0);
  bmp.close();
  canvas.dataset.state = 'ready';
}

// A strip of thumbnails for attachments [{id,name,type,size,sha256}].
export function photoStrip(attachments) {
  const list = (attachments || []).filter((a) => a && /^[0-9a-f]{64}$/.test(a.sha256 || ''));
  if (list.length === 0) return null;
  return h('ul', { class: 'photos' }, list.map((a) => {
    const canvas = h('canvas', { class: 'thumb', width: THUMB, height: THUMB, dataset: { sha: a.sha256, state: 'loading' } });
    const isImage = /^image\//.test(a.type || '');
    if (isImage) {
      drawThumb(canvas, a.sha256).catch(() => {
        canvas.dataset.state = 'missing';
        canvas.title = t('photo.missing');
      });
    } else {
      canvas.dataset.state = 'file';
    }
    return h('li', { dataset: { attachment: a.id } },
      h('a', { href: `/api/blobs/${a.sha256}`, target: '_blank', rel: 'noopener', title: a.name || '' },
        canvas, h('span', { class: 'photo-name' }, a.name || '')));
  }));
}
