    /* widget.parts: the strings, in the three languages of the product */

    /* strings, in the three languages of the product */
    var STR = {
        'pt-BR': {
            open: 'Abrir o chat', close: 'Fechar o chat', title: 'Fale conosco',
            greeting: 'Olá! Como podemos ajudar?', send: 'Enviar',
            message: 'Mensagem', write: 'Escreva sua mensagem…',
            start: 'Iniciar conversa', name: 'Nome', email: 'E-mail',
            optional: '(opcional)', required: 'Preencha este campo.',
            bademail: 'Informe um e-mail válido.',
            queue: 'Você é o {n} da fila', estimate: 'espera de cerca de {m} min',
            typing: '{name} está digitando…', agent: 'Atendente',
            sending: 'Enviando…', sent: 'Enviada', delivered: 'Entregue',
            read: 'Lida', failed: 'Não enviada',
            attach: 'Anexar arquivo', remove: 'Remover {name}',
            uploading: 'Enviando arquivo…', upfail: 'O arquivo não foi enviado.',
            transcript: 'Receber a conversa por e-mail',
            tsent: 'Enviaremos a conversa para {email}.',
            end: 'Encerrar conversa', ended: 'A conversa foi encerrada.',
            again: 'Nova conversa', joined: '{name} entrou na conversa.',
            handover: 'Você pediu para falar com uma pessoa.',
            left: '{name} saiu da conversa.',
            transferred: 'Conversa transferida para {name}.',
            converted: 'Esta conversa virou o chamado {n}.',
            later: 'No momento não há ninguém disponível. Tente novamente mais tarde.',
            offline: 'No momento não há ninguém disponível. Deixe sua mensagem ' +
                'e responderemos por e-mail.',
            leave: 'Enviar mensagem',
            thanks: 'Recebemos sua mensagem. Seu chamado é o {n}.',
            reconnecting: 'Reconectando…', error: 'Algo deu errado. Tente novamente.',
            person: 'Falar com uma pessoa', unread: '{n} mensagens não lidas',
            unread1: '1 mensagem não lida',
            log: 'Mensagens', you: 'Você', toolong: 'A mensagem é longa demais.',
            wait: 'Aguarde {s} s e tente de novo.'
        },
        es: {
            open: 'Abrir el chat', close: 'Cerrar el chat', title: 'Contáctanos',
            greeting: '¡Hola! ¿Cómo podemos ayudarte?', send: 'Enviar',
            message: 'Mensaje', write: 'Escribe tu mensaje…',
            start: 'Iniciar conversación', name: 'Nombre',
            email: 'Correo electrónico', optional: '(opcional)',
            required: 'Completa este campo.',
            bademail: 'Escribe un correo electrónico válido.',
            queue: 'Eres el {n} en la fila', estimate: 'espera de unos {m} min',
            typing: '{name} está escribiendo…', agent: 'Agente',
            sending: 'Enviando…', sent: 'Enviado', delivered: 'Entregado',
            read: 'Leído', failed: 'No enviado',
            attach: 'Adjuntar archivo', remove: 'Quitar {name}',
            uploading: 'Subiendo archivo…', upfail: 'No se pudo subir el archivo.',
            transcript: 'Recibir la conversación por correo',
            tsent: 'Enviaremos la conversación a {email}.',
            end: 'Terminar conversación', ended: 'La conversación terminó.',
            again: 'Nueva conversación', joined: '{name} se unió a la conversación.',
            handover: 'Pidió hablar con una persona.',
            left: '{name} salió de la conversación.',
            transferred: 'Conversación transferida a {name}.',
            converted: 'Esta conversación es ahora el ticket {n}.',
            later: 'Ahora no hay nadie disponible. Inténtalo de nuevo más tarde.',
            offline: 'Ahora no hay nadie disponible. Déjanos tu mensaje y te ' +
                'responderemos por correo.',
            leave: 'Enviar mensaje',
            thanks: 'Recibimos tu mensaje. Tu ticket es el {n}.',
            reconnecting: 'Reconectando…', error: 'Algo salió mal. Inténtalo de nuevo.',
            person: 'Hablar con una persona', unread: '{n} mensajes sin leer',
            unread1: '1 mensaje sin leer',
            log: 'Mensajes', you: 'Tú', toolong: 'El mensaje es demasiado largo.',
            wait: 'Espera {s} s y vuelve a intentarlo.'
        },
        en: {
            open: 'Open chat', close: 'Close chat', title: 'Chat with us',
            greeting: 'Hi! How can we help?', send: 'Send',
            message: 'Message', write: 'Type your message…',
            start: 'Start chat', name: 'Name', email: 'Email',
            optional: '(optional)', required: 'Please fill in this field.',
            bademail: 'Please enter a valid email address.',
            queue: 'You are {n} in line', estimate: 'about {m} min wait',
            typing: '{name} is typing…', agent: 'Agent',
            sending: 'Sending…', sent: 'Sent', delivered: 'Delivered',
            read: 'Read', failed: 'Not sent',
            attach: 'Attach a file', remove: 'Remove {name}',
            uploading: 'Uploading…', upfail: 'The file could not be uploaded.',
            transcript: 'Email me the transcript',
            tsent: 'We will email the transcript to {email}.',
            end: 'End chat', ended: 'The chat has ended.',
            again: 'New chat', joined: '{name} joined the chat.',
            handover: 'You asked to talk to a person.',
            left: '{name} left the chat.',
            transferred: 'Chat transferred to {name}.',
            converted: 'This chat is now ticket {n}.',
            later: 'Nobody is available right now. Please try again later.',
            offline: 'Nobody is available right now. Leave a message and we ' +
                'will answer by email.',
            leave: 'Send message',
            thanks: 'We got your message. Your ticket is {n}.',
            reconnecting: 'Reconnecting…', error: 'Something went wrong. Please try again.',
            person: 'Talk to a person', unread: '{n} unread messages',
            unread1: '1 unread message',
            log: 'Messages', you: 'You', toolong: 'The message is too long.',
            wait: 'Wait {s} s and try again.'
        }
    };

    var LANG = (function () {
        var l = (script.getAttribute('data-lang') || navigator.language || '')
            .toLowerCase();
        return l.indexOf('pt') === 0 ? 'pt-BR' : l.indexOf('es') === 0 ? 'es' : 'en';
    }());
    var S = STR[LANG];

    function t(key, v) {
        return S[key].replace(/\{(\w+)\}/g, function (m, k) {
            return v && v[k] != null ? String(v[k]) : m;
        });
    }

    function ordinal(n) {
        if (LANG === 'pt-BR') {
            return n + 'º';
        }
        if (LANG === 'es') {
            return n + '.º';
        }
        var s = ['th', 'st', 'nd', 'rd'], v = n % 100;
        return n + (s[(v - 20) % 10] || s[v] || s[0]);
    }
