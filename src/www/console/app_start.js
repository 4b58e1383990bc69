  /* app.parts: what other console scripts use, and the start */

  /* the pieces other console scripts draw with (chat_record.js) */
  HD.console = { view: view, link: link, go: go, announce: announce, channelTag: channelTag,
                 retitle: function () { title(pageTitle); } };

  HD.load(function () {
    document.querySelector('.skip').textContent = t('c.skip');
    route();
  });
