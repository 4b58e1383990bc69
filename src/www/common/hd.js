/*
 * nginx-helpdesk: the tools the customer portal and the agent console
 * share (window.HD): building DOM nodes (text is always text), strings of
 * the page's language, JSON calls with the CSRF token, form errors.
 */
(function () {
  'use strict';

  var boot = JSON.parse(document.getElementById('boot').textContent);
  var strings = {};
  var lang = boot.language || 'pt-BR';
  var base = document.documentElement.getAttribute('data-base') || '';

  /* ---------- small tools ---------- */

  function t(key, vars) {
    /* "key.one" is the singular of a count, where a language has it */
    var s = (vars && vars.n === 1 && strings[key + '.one']) || strings[key] || key;
    if (vars) {
      Object.keys(vars).forEach(function (k) { s = s.split('{' + k + '}').join(vars[k]); });
    }
    return s;
  }

  /* h('tag.class#id', {attr: v, on: {click: f}}, children...) */
  function h(spec, attrs) {
    var m = spec.split(/(?=[.#])/), el = document.createElement(m[0] || 'div');
    m.slice(1).forEach(function (p) {
      if (p[0] === '.') el.classList.add(p.slice(1)); else el.id = p.slice(1);
    });
    var kids = Array.prototype.slice.call(arguments, 2);
    if (attrs && (typeof attrs !== 'object' || attrs.nodeType || Array.isArray(attrs))) {
      kids.unshift(attrs);
      attrs = null;
    }
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'on') Object.keys(v).forEach(function (e) { el.addEventListener(e, v[e]); });
      else if (k === 'text') el.textContent = v;
      else if (k in el && k !== 'list' && k !== 'form') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    });
    append(el, kids);
    return el;
  }

  function append(el, kids) {
    kids.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) append(el, c);
      else el.appendChild(c.nodeType ? c : document.createTextNode(String(c)));
    });
  }

  function local(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    /* the page's language, the tenant's default, then any */
    var dflt = boot.portal && boot.portal.default_language;
    return v[lang] || (dflt && v[dflt]) || v['pt-BR'] || v.es || v.en || '';
  }

  function when(iso) {
    var d = new Date(iso);
    try {
      return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
    } catch (e) {
      return d.toLocaleString();
    }
  }

  function size(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(n >= 10485760 ? 0 : 1) + ' MB';
    if (n >= 1024) return Math.round(n / 1024) + ' KB';
    return n + ' B';
  }

  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : '';
  }

  /* ---------- talking to the server ---------- */

  function api(method, path, body, opts) {
    opts = opts || {};
    var headers = { 'Accept': 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = cookie('hd_csrf');
    if (body !== undefined && !opts.raw) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    Object.keys(opts.headers || {}).forEach(function (k) { headers[k] = opts.headers[k]; });
    return fetch((opts.root === undefined ? base + '/_/api' : opts.root) + path, { method: method, headers: headers, body: body,
                                    credentials: 'same-origin' })
      .catch(function () { throw { slug: 'network', detail: t('error.network') }; })
      .then(function (res) {
        if (res.status === 204 || res.status === 202) return {};
        return res.json().catch(function () { return {}; }).then(function (j) {
          if (res.ok) return j;
          var slug = (j.type || '').split('/').pop();
          throw { status: res.status, slug: slug, detail: j.detail, errors: j.errors || [], problem: j,
                  retryAfter: res.headers.get('Retry-After') };
        });
      });
  }

  /* the REST API under the console's path, where its session cookie goes */
  function rest(method, path, body) {
    return api(method, path, body, { root: base + '/_/rest' });
  }

  function message(err) {
    if (err && strings['error.' + err.slug]) return t('error.' + err.slug);
    return (err && err.detail) || t('error.generic');
  }

  /* a form's error: the message on top, field errors under their fields */
  function showError(form, err) {
    form.querySelectorAll('.field-error').forEach(function (e) { e.remove(); });
    form.querySelectorAll('[aria-invalid]').forEach(function (e) { e.removeAttribute('aria-invalid'); });
    var box = form.querySelector('.alert');
    box.className = 'alert error';
    box.textContent = message(err);
    (err.errors || []).forEach(function (fe) {
      var input = form.querySelector('[name="' + (fe.field || '').replace(/"/g, '') + '"]');
      if (!input) return;
      var id = 'err-' + fe.field;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', id);
      input.parentNode.appendChild(h('p.field-error', { id: id, text: strings['error.' + fe.code] || fe.message }));
    });
    box.focus();
  }

  function showOk(form, text) {
    var box = form.querySelector('.alert');
    box.className = 'alert ok';
    box.textContent = text;
    box.focus();
  }

  function alertBox() {
    return h('div.alert', { role: 'alert', tabindex: '-1', 'aria-live': 'assertive' });
  }

  function field(label, input, hint) {
    var id = 'f-' + input.name;
    input.id = id;
    return h('div.field', h('label', { htmlFor: id }, label), input,
             hint ? h('p.hint', hint) : null);
  }

  function submitting(form, busy) {
    form.querySelectorAll('button, input, select, textarea').forEach(function (e) { e.disabled = busy; });
  }

  /* the language's strings, then start(): the page's own code */
  function load(start) {
    fetch(document.documentElement.getAttribute('data-i18n'))
      .then(function (r) { return r.json(); })
      .then(function (s) { strings = s; start(); })
      .catch(function () { start(); });
  }

  window.HD = {
    boot: boot, lang: lang, base: base, t: t, h: h, append: append, local: local,
    when: when, size: size, cookie: cookie, api: api, rest: rest, message: message,
    showError: showError, showOk: showOk, alertBox: alertBox, field: field,
    submitting: submitting, load: load,
    has: function (key) { return Object.prototype.hasOwnProperty.call(strings, key); }
  };
})();
