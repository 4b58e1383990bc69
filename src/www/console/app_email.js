  /* app.parts: the admin's e-mail page (/v1/email/...): who the mail is
     from, the signature, a relay of the tenant's own, the DKIM record to
     publish; then each kind of mail's wording per language, with a preview
     of the mail it makes (shown in a sandboxed frame: nothing in it runs) */

  var EMAIL_KINDS = ['password_reset', 'invitation', 'verification', 'chat_transcript'],
      EMAIL_LANGS = ['pt-BR', 'es', 'en'];

  function emailAdmin(panel) {
    rest('GET', '/v1/email/settings').then(function (s) {
      append(panel, [emailSender(s), emailTemplates()]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function emailSender(s) {
    var relay = s.relay || {}, dkim = s.dkim || {};
    var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var el = form.elements, body = {
        from_name: el.from_name.value.trim() || null,
        from_address: el.from_address.value.trim() || null,
        reply_to: el.reply_to.value.trim() || null,
        signature: el.signature.value,
        smtp_url: el.smtp_url.value.trim() || null
      };
      if (body.smtp_url) {
        body.smtp_user = el.smtp_user.value.trim() || null;
        /* an empty password field keeps the stored one */
        if (el.smtp_password.value) body.smtp_password = el.smtp_password.value;
      }
      submitting(form, true);
      rest('PUT', '/v1/email/settings', body).then(function (saved) {
        submitting(form, false);
        showOk(form, t('c.saved'));
        form.replaceChild(emailDkim(saved.dkim || {}), form.querySelector('.dkim'));
      })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } }, h('h2', t('c.email.sender')), alertBox(),
      field(t('c.email.from_name'), h('input', { name: 'from_name', value: s.from_name || '', maxlength: 100 })),
      field(t('c.email.from_address'), h('input', { name: 'from_address', type: 'email', value: s.from_address || '', maxlength: 254 }),
            t('c.email.from_address.hint')),
      field(t('c.email.reply_to'), h('input', { name: 'reply_to', type: 'email', value: s.reply_to || '', maxlength: 254 })),
      field(t('c.email.signature'), h('textarea', { name: 'signature', rows: 4, value: s.signature || '', maxlength: 2000 })),
      h('h3', t('c.email.relay')),
      h('p.hint', relay.kind === 'tenant' ? t('c.email.relay.own') : t('c.email.relay.provider')),
      field(t('c.email.smtp_url'), h('input', { name: 'smtp_url', value: relay.url || '', placeholder: 'smtp://smtp.example.com:587' }),
            t('c.email.smtp_url.hint')),
      field(t('c.email.smtp_user'), h('input', { name: 'smtp_user', value: relay.user || '', autocomplete: 'off' })),
      field(t('c.email.smtp_password'), h('input', { name: 'smtp_password', type: 'password', autocomplete: 'new-password',
                                                     placeholder: relay.password_set ? '••••••••' : '' })),
      emailDkim(dkim),
      h('div.row', h('button', { type: 'submit' }, t('c.save'))));
    return form;
  }

  function emailDkim(dkim) {
    return h('div.dkim', h('h3', 'DKIM'), dkim.status === 'ready'
      ? [h('p.hint', t('c.email.dkim.ready')),
         h('p', h('code', dkim.record_name), ' TXT'), h('p', h('code.wrap', dkim.record_value))]
      : h('p.hint', t(dkim.status === 'pending' ? 'c.email.dkim.pending' : 'c.email.dkim.none')));
  }

  function emailTemplates() {
    var box = h('div'),
        kind = h('select', { name: 'kind', 'aria-label': t('c.email.kind') },
                 EMAIL_KINDS.map(function (k) { return h('option', { value: k }, t('c.email.kind.' + k)); })),
        lang = h('select', { name: 'lang', 'aria-label': t('c.language') },
                 EMAIL_LANGS.map(function (l) { return h('option', { value: l, selected: l === HD.lang }, l); }));

    function load() {
      box.textContent = '';
      var path = '/v1/email/templates/' + kind.value + '/' + lang.value;
      rest('GET', path).then(function (tp) {
        var out = h('div.mail-preview');
        var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
          e.preventDefault();
          submitting(form, true);
          rest('PUT', path, draft()).then(function () { submitting(form, false); showOk(form, t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } }, alertBox(),
          h('p.hint', t(tp.custom ? 'c.email.custom' : 'c.email.default'), ' ',
            t('c.email.placeholders'), ' ', tp.placeholders.map(function (p) { return '{{' + p + '}}'; }).join(' ')),
          field(t('c.email.subject'), h('input', { name: 'subject', value: tp.subject, maxlength: 500, required: true })),
          field(t('c.email.text'), h('textarea', { name: 'text', rows: 8, value: tp.text })),
          field(t('c.email.html'), h('textarea', { name: 'html', rows: 8, value: tp.html })),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            h('button.secondary', { type: 'button', on: { click: function () {
              rest('POST', path + '/preview', draft()).then(function (m) {
                out.textContent = '';
                append(out, [h('h3', t('c.email.preview')), h('p', h('strong', m.subject)),
                  h('pre.wrap', m.text),
                  h('iframe', { sandbox: '', title: t('c.email.preview'), srcdoc: m.html })]);
              }).catch(function (err) { showError(form, err); });
            } } }, t('c.email.preview')),
            tp.custom ? h('button.secondary', { type: 'button', on: { click: function () {
              rest('DELETE', path).then(function () { load(); announce(t('c.saved')); })
                .catch(function (err) { showError(form, err); });
            } } }, t('c.email.reset')) : null),
          out);
        function draft() {
          var el = form.elements;
          return { subject: el.subject.value, text: el.text.value, html: el.html.value };
        }
        append(box, [form]);
      }).catch(function (err) { box.textContent = message(err); });
    }

    kind.addEventListener('change', load);
    lang.addEventListener('change', load);
    load();
    return h('section', h('h2', t('c.email.templates')), h('div.row', kind, lang), box);
  }
