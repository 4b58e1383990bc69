  /* app.parts: the admin's pages */

  /* ---------- admin ---------- */

  function admin() {
    var tabs = ['agents', 'groups', 'canned', 'portal', 'domains', 'chat', 'hours', 'whatsapp', 'email', 'webhooks', 'audit'],
        which = emailOAuthReturn() || (location.hash || '#agents').slice(1);
    if (tabs.indexOf(which) < 0) which = 'agents';
    var panel = h('section.panel', { role: 'tabpanel' });
    var nav = h('nav.tabs', { role: 'tablist' }, tabs.map(function (k) {
      return h('a', { href: '#' + k, role: 'tab', 'aria-selected': k === which ? 'true' : 'false', on: { click: function (e) {
        e.preventDefault(); history.replaceState(null, '', '#' + k); admin();
      } } }, t('c.tab.' + k));
    }));
    view(t('c.admin'), [h('h1', t('c.admin')), nav, panel], 'wide');
    ({ agents: agents, groups: groupsAdmin, canned: cannedAdmin, portal: portalAdmin, domains: domainsAdmin, chat: HD.chatRecord.settings, hours: hoursAdmin,
       whatsapp: whatsappAdmin, email: emailAdmin, webhooks: webhooksAdmin, audit: audit })[which](panel);
  }

  function agents(panel) {
    api('GET', '/agents').then(function (r) {
      var form = h('form.inline', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        submitting(form, true);
        api('POST', '/agents', { name: form.elements.name.value, email: form.elements.email.value,
                                 role: form.elements.role.value, language: HD.lang })
          .then(function () { submitting(form, false); admin(); announce(t('c.invited')); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.invite')), alertBox(),
        field(t('c.name'), h('input', { name: 'name', required: true })),
        field(t('c.email'), h('input', { name: 'email', type: 'email', required: true })),
        field(t('c.role'), h('select', { name: 'role' }, h('option', { value: 'agent' }, t('c.role.agent')),
                                                        h('option', { value: 'admin' }, t('c.role.admin')))),
        h('button', { type: 'submit' }, t('c.invite.send')));
      append(panel, [h('table.list', h('thead', h('tr', ['c.name', 'c.email', 'c.role', 'c.state', ''].map(function (k) {
        return h('th', { scope: 'col' }, k ? t(k) : '');
      }))), h('tbody', r.data.map(function (a) {
        var me = a.id === boot.user.id;
        return h('tr', h('td', a.name), h('td', a.email),
          h('td', me ? t('c.role.' + a.role) : h('select', { 'aria-label': t('c.role') + ' ' + a.name, on: { change: function (e) {
            api('PATCH', '/agents/' + a.id, { role: e.target.value }).then(function () { announce(t('c.saved')); })
              .catch(function (err) { announce(message(err)); });
          } } }, ['agent', 'admin'].map(function (x) { return h('option', { value: x, selected: x === a.role }, t('c.role.' + x)); }))),
          h('td', a.status === 'active' ? (a.has_password ? t('c.state.active') : t('c.state.invited')) : t('c.state.disabled')),
          h('td', me ? '' : h('button.link', { type: 'button', on: { click: function () {
            api('PATCH', '/agents/' + a.id, { status: a.status === 'active' ? 'disabled' : 'active' }).then(admin)
              .catch(function (err) { announce(message(err)); });
          } } }, a.status === 'active' ? t('c.deactivate') : t('c.reactivate'))));
      }))), form]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function cannedAdmin(panel) {
    api('GET', '/canned').then(function (r) {
      function editor(c) {
        var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
          e.preventDefault();
          submitting(form, true);
          var body = { title: form.elements.title.value, body: form.elements.body.value };
          (c ? api('PATCH', '/canned/' + c.id, body) : api('POST', '/canned', body))
            .then(function () { admin(); announce(t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } }, h('h2', c ? c.title : t('c.canned.new')), alertBox(),
          field(t('c.canned.title'), h('input', { name: 'title', value: c ? c.title : '', required: true })),
          field(t('c.canned.body'), h('textarea', { name: 'body', rows: 5, value: c ? c.body : '' }), t('c.canned.hint')),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            c ? h('button.secondary', { type: 'button', on: { click: function () {
              api('DELETE', '/canned/' + c.id).then(admin);
            } } }, t('c.delete')) : null));
        return form;
      }
      append(panel, r.data.map(editor).concat([editor(null)]));
    }).catch(function (err) { panel.textContent = message(err); });
  }

  /* a JSON document edited as text, saved with one call */
  function jsonEditor(title, hint, value, save) {
    var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var v;
      try { v = JSON.parse(form.elements.doc.value); } catch (x) {
        return showError(form, { detail: t('c.json.bad') + ' ' + x.message });
      }
      submitting(form, true);
      save(v).then(function () { submitting(form, false); showOk(form, t('c.saved')); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } }, h('h2', title), alertBox(),
      field('JSON', h('textarea.code', { name: 'doc', rows: 14, value: JSON.stringify(value, null, 2) }), hint),
      h('button', { type: 'submit' }, t('c.save')));
    return form;
  }

  function portalAdmin(panel) {
    var LANGS = [['pt-BR', 'Português (Brasil)'], ['es', 'Español'], ['en', 'English']];
    rest('GET', '/v1/portal').then(function (s) {
      var b = s.branding || {};
      /* a text per language: one field each; a single string is every language's */
      function inLanguage(v, l) {
        if (v === null || v === undefined) return '';
        return typeof v === 'string' ? v : v[l] || '';
      }
      function perLanguage(name) {
        var out = {}, any = false;
        LANGS.forEach(function (l) {
          var v = form.elements[name + '.' + l[0]].value.trim();
          if (v) { out[l[0]] = v; any = true; }
        });
        return any ? out : null;
      }
      function localFields(name, label, textarea) {
        return h('fieldset.langs', h('legend', label), LANGS.map(function (l) {
          var attrs = { name: name + '.' + l[0], lang: l[0], value: inLanguage(b[name], l[0]) };
          if (textarea) attrs.rows = 3;
          return field(l[1], h(textarea ? 'textarea' : 'input', attrs));
        }));
      }
      var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = form.elements;
        submitting(form, true);
        rest('PATCH', '/v1/portal', {
          allow_signup: el.allow_signup.checked, require_login: el.require_login.checked,
          default_language: el.default_language.value,
          branding: { primary_color: el.primary_color.value, secondary_color: el.secondary_color.value,
                      welcome_title: perLanguage('welcome_title'), welcome_text: perLanguage('welcome_text') } })
          .then(function () { submitting(form, false); showOk(form, t('c.saved')); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.portal.look')), alertBox(),
        h('label.check', h('input', { type: 'checkbox', name: 'allow_signup', checked: s.allow_signup }), ' ', t('c.portal.signup')),
        h('label.check', h('input', { type: 'checkbox', name: 'require_login', checked: s.require_login }), ' ', t('c.portal.login')),
        field(t('c.portal.language'), h('select', { name: 'default_language' },
          LANGS.map(function (l) {
            return h('option', { value: l[0], selected: l[0] === s.default_language }, l[1]);
          }))),
        h('div.row', field(t('c.portal.primary'), h('input', { type: 'color', name: 'primary_color', value: b.primary_color })),
                     field(t('c.portal.secondary'), h('input', { type: 'color', name: 'secondary_color', value: b.secondary_color }))),
        localFields('welcome_title', t('c.portal.title'), false),
        localFields('welcome_text', t('c.portal.text'), true),
        h('button', { type: 'submit' }, t('c.save')));
      append(panel, [form, jsonEditor(t('c.portal.form'), t('c.portal.form.hint'), s.form, function (v) {
        return rest('PUT', '/v1/portal/form', { fields: v });
      })]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function hoursAdmin(panel) {
    Promise.all([rest('GET', '/v1/business-hours/whatsapp'), rest('GET', '/v1/business-hours/chat')]).then(function (r) {
      r.forEach(function (s) { delete s.open_now; delete s.always_open; });
      /* a channel always open: a schedule to start from */
      if (!r[1].days) {
        r[1] = { timezone: 'America/Sao_Paulo', days: { mon: [['08:00', '18:00']], tue: [['08:00', '18:00']],
                 wed: [['08:00', '18:00']], thu: [['08:00', '18:00']], fri: [['08:00', '18:00']], sat: [], sun: [] },
                 holidays: [] };
      }
      append(panel, [jsonEditor(t('c.hours'), t('c.hours.hint'), r[0], function (v) {
        return rest('PUT', '/v1/business-hours/whatsapp', v);
      }), jsonEditor(t('c.hours.chat'), t('c.hours.chat.hint'), r[1], function (v) {
        return rest('PUT', '/v1/business-hours/chat', v);
      })]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function whatsappAdmin(panel) {
    Promise.all([rest('GET', '/v1/whatsapp/connections'), rest('GET', '/v1/whatsapp/templates')]).then(function (r) {
      var list = h('table.list', h('thead', h('tr', ['c.wa.number', 'c.wa.provider', 'c.wa.health', 'c.wa.webhook', '']
        .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : ''); }))),
        h('tbody', r[0].data.map(function (c) {
          return h('tr', h('td', c.display_phone_number), h('td', c.provider),
            h('td', h('span.badge.health-' + (c.health && c.health.state || 'unknown'),
                      (c.health && c.health.state) || '—'), c.health && c.health.last_error ? ' ' + c.health.last_error : ''),
            h('td', h('code', c.webhook_url || '')),
            h('td', h('button.link', { type: 'button', on: { click: function () {
              rest('DELETE', '/v1/whatsapp/connections/' + c.id).then(admin).catch(function (err) { announce(message(err)); });
            } } }, t('c.delete'))));
        })));
      var form = h('form.inline', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = form.elements, body = { provider: el.provider.value, display_phone_number: el.number.value };
        if (el.provider.value === 'cloud') {
          body.phone_number_id = el.phone_number_id.value; body.access_token = el.secret.value;
          body.app_secret = el.app_secret.value; body.verify_token = el.verify_token.value;
        } else {
          body.api_key = el.secret.value;
        }
        submitting(form, true);
        rest('POST', '/v1/whatsapp/connections', body).then(admin)
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.wa.connect')), alertBox(),
        field(t('c.wa.provider'), h('select', { name: 'provider' }, h('option', { value: '360dialog' }, '360dialog'),
                                                                   h('option', { value: 'cloud' }, 'WhatsApp Cloud API'))),
        field(t('c.wa.number'), h('input', { name: 'number', placeholder: '+55 11 4000-0000' })),
        field(t('c.wa.secret'), h('input', { name: 'secret', type: 'password', autocomplete: 'off' })),
        field('phone_number_id', h('input', { name: 'phone_number_id' })),
        field('app_secret', h('input', { name: 'app_secret', type: 'password', autocomplete: 'off' })),
        field('verify_token', h('input', { name: 'verify_token' })),
        h('button', { type: 'submit' }, t('c.wa.connect')));
      append(panel, [list, form, jsonEditor(t('c.wa.templates'), t('c.wa.templates.hint'), r[1], function (v) {
        return rest('PUT', '/v1/whatsapp/templates', v);
      })]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function webhooksAdmin(panel) {
    var EVENTS = ['ticket.created', 'ticket.updated', 'ticket.comment_added', 'whatsapp.message_failed', 'domain.status_changed'];
    rest('GET', '/v1/webhooks').then(function (r) {
      var list = h('table.list', h('thead', h('tr', ['c.hook.url', 'c.hook.events', 'c.state', '']
        .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : ''); }))),
        h('tbody', r.data.map(function (w) {
          return h('tr', h('td', h('code', w.url)), h('td', w.events.join(', ')),
            h('td', w.enabled ? t('c.state.active') : t('c.state.disabled') + (w.disabled_reason ? ' (' + w.disabled_reason + ')' : '')),
            h('td', h('button.link', { type: 'button', on: { click: function () {
              rest('PATCH', '/v1/webhooks/' + w.id, { enabled: !w.enabled }).then(admin)
                .catch(function (err) { announce(message(err)); });
            } } }, w.enabled ? t('c.deactivate') : t('c.reactivate')), ' ',
              h('button.link', { type: 'button', on: { click: function () {
                rest('DELETE', '/v1/webhooks/' + w.id).then(admin).catch(function (err) { announce(message(err)); });
              } } }, t('c.delete'))));
        })));
      var secret = h('p.secret', { role: 'status' });
      var form = h('form.inline', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var events = EVENTS.filter(function (ev) { return form.elements['ev-' + ev].checked; });
        submitting(form, true);
        rest('POST', '/v1/webhooks', { url: form.elements.url.value, events: events }).then(function (w) {
          submitting(form, false);
          secret.textContent = t('c.hook.secret', { secret: w.secret });
        }).catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.hook.new')), alertBox(),
        field(t('c.hook.url'), h('input', { name: 'url', type: 'url', placeholder: 'https://' })),
        h('fieldset.events', h('legend', t('c.hook.events')), EVENTS.map(function (ev) {
          return h('label.check', h('input', { type: 'checkbox', name: 'ev-' + ev, checked: ev !== 'ticket.updated' }), ' ', ev);
        })),
        h('button', { type: 'submit' }, t('c.hook.create')));
      append(panel, [list, form, secret]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function audit(panel) {
    var form = h('form.inline.filters', { on: { submit: function (e) { e.preventDefault(); load(); } } },
      field(t('c.filter.agent'), h('select', { name: 'agent' }, h('option', { value: '' }, t('c.anyone')),
        (boot.agents || []).map(function (a) { return h('option', { value: a.id }, a.name); }))),
      field(t('c.filter.ticket'), h('input', { name: 'ticket', placeholder: 'TKT-000001' })),
      field(t('c.filter.from'), h('input', { name: 'from', type: 'date' })),
      field(t('c.filter.to'), h('input', { name: 'to', type: 'date' })),
      h('button', { type: 'submit' }, t('c.filter.apply')));
    var out = h('div.audit');
    var csv = h('a.button.secondary', { href: '#' }, t('c.audit.csv'));

    function qs() {
      return ['agent', 'ticket', 'from', 'to'].filter(function (k) { return form.elements[k].value; })
        .map(function (k) { return k + '=' + encodeURIComponent(form.elements[k].value); }).join('&');
    }

    function load() {
      csv.href = base + '/_/api/audit.csv?' + qs();
      api('GET', '/audit?' + qs()).then(function (r) {
        out.textContent = '';
        out.appendChild(h('table.list', h('thead', h('tr', ['c.audit.at', 'c.audit.actor', 'c.audit.action', 'c.audit.object', 'IP']
          .map(function (k) { return h('th', { scope: 'col' }, k === 'IP' ? k : t(k)); }))),
          h('tbody', r.data.map(function (a) {
            return h('tr', h('td', when(a.at)), h('td', a.actor || a.actor_type), h('td', a.action),
                     h('td', a.ticket ? link('/tickets/' + a.ticket, a.ticket) : (a.object_type + (a.object_id ? ' ' + a.object_id : ''))),
                     h('td', a.ip || ''));
          }))));
      }).catch(function (err) { out.textContent = message(err); });
    }

    append(panel, [form, h('p', csv), out]);
    load();
  }
