package Helpdesk::Browser;

# A headless Chromium driven over the W3C WebDriver protocol (Debian's
# chromium-driver), for tests that look at pages as a person would:
# load a page, type, click, read what is shown, take screenshots.

use strict;
use warnings;
use Mojo::UserAgent;
use Mojo::JSON qw(true false);
use MIME::Base64 qw(decode_base64);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use File::Temp qw(tempdir);

my $ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

sub available {
    return -x '/usr/bin/chromedriver' && (-x '/usr/bin/chromium' || -x '/usr/lib/chromium/chromium');
}

# Helpdesk::Browser->new(resolve => { 'acme.portal.test' => port, ... },
#                        width => 1280, height => 900)
sub new {
    my ($class, %opt) = @_;
    my $self = bless { ua => Mojo::UserAgent->new(inactivity_timeout => 60, request_timeout => 60) }, $class;
    my $port = do {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
        my $p = $s->sockport;
        close $s;
        $p;
    };
    $self->{port} = $port;
    $self->{profile} = tempdir(CLEANUP => 1);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec '/usr/bin/chromedriver', "--port=$port";
        exit 127;
    }
    $self->{pid} = $pid;
    my $deadline = time + 10;
    until (IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")) {
        die 'chromedriver did not start' if time > $deadline;
        sleep 0.05;
    }

    # names of test tenants resolve to this machine
    my @rules = map { "MAP $_ 127.0.0.1" } keys %{ $opt{resolve} // {} };
    my @args = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--disable-background-networking', '--disable-extensions', '--no-first-run',
                '--disable-sync', '--disable-features=Translate,MediaRouter,OptimizationHints',
                "--user-data-dir=$self->{profile}",
                sprintf('--window-size=%d,%d', $opt{width} // 1280, $opt{height} // 900),
                $opt{lang} ? "--lang=$opt{lang}" : (),
                @rules ? ('--host-resolver-rules=' . join(', ', @rules)) : (),
                @{ $opt{args} // [] });
    my $caps = { capabilities => { alwaysMatch => {
        browserName => 'chrome', acceptInsecureCerts => ($opt{insecure} ? true : false),
        # the pages stream (server-sent events): DOM ready is loaded enough
        pageLoadStrategy => 'eager',
        'goog:chromeOptions' => { binary => '/usr/bin/chromium', args => \@args,
                                  $opt{lang} ? (prefs => { 'intl.accept_languages' => $opt{lang} }) : () } } } };
    my $res = $self->_call(POST => '/session', $caps);
    $self->{session} = $res->{sessionId} // die 'no WebDriver session';
    $self->_call(POST => "/session/$self->{session}/timeouts", { implicit => 0, pageLoad => 30000, script => 30000 });
    return $self;
}

sub _call {
    my ($self, $method, $path, $body) = @_;
    my $tx = $self->{ua}->build_tx($method => "http://127.0.0.1:$self->{port}$path"
                                   => { 'Content-Type' => 'application/json' }
                                   => json => $body // {});
    $tx = $self->{ua}->start($tx);
    my $j = $tx->res->json // die "WebDriver: no answer to $method $path: " . ($tx->error->{message} // '');
    die "WebDriver $method $path: " . ($j->{value}{message} // $tx->res->body) . "\n"
        if ref $j->{value} eq 'HASH' && $j->{value}{error};
    return exists $j->{sessionId} ? $j : $j->{value};
}

sub _s { "/session/$_[0]{session}" }

# navigate; a renderer that missed the deadline on a loaded machine gets a
# second chance
sub get {
    my ($self, $url) = @_;
    eval { $self->_call(POST => $self->_s . '/url', { url => $url }); 1 } and return $self;
    my $err = $@;
    die $err unless $err =~ /timeout|Timed out/i;
    sleep 0.5;
    $self->_call(POST => $self->_s . '/url', { url => $url });
    return $self;
}
sub url { $_[0]->_call(GET => $_[0]->_s . '/url') }
sub title { $_[0]->_call(GET => $_[0]->_s . '/title') }

sub script {
    my ($self, $js, @args) = @_;
    return $self->_call(POST => $self->_s . '/execute/sync', { script => $js, args => \@args });
}

# the page's visible text (or an element's), once "until" matches it
sub text {
    my ($self, $css) = @_;
    return $self->script('var e = document.querySelector(arguments[0]); return e ? e.innerText : null;',
                         $css // 'body');
}

sub wait_for {
    my ($self, $css, $timeout, $pattern) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $t = $self->text($css);
        return $t if defined $t && !ref $t && (!defined $pattern || $t =~ $pattern);
        warn "wait_for($css): " . Mojo::JSON::encode_json($t) . "\n" if ref $t && $ENV{HELPDESK_BROWSER_DEBUG};
        sleep 0.1;
    }
    return undef;
}

sub find {
    my ($self, $css) = @_;
    my $e = $self->_call(POST => $self->_s . '/element', { using => 'css selector', value => $css });
    return $e->{$ELEMENT};
}

sub type {
    my ($self, $css, $text) = @_;
    my $id = $self->find($css);
    $self->_call(POST => $self->_s . "/element/$id/clear", {});
    $self->_call(POST => $self->_s . "/element/$id/value", { text => $text });
    return $self;
}

sub select {
    my ($self, $css, $value) = @_;
    $self->script('var e = document.querySelector(arguments[0]); e.value = arguments[1];'
                  . 'e.dispatchEvent(new Event("change", {bubbles: true}));', $css, $value);
    return $self;
}

# (a live page may redraw between finding an element and clicking it: the
# element is then found again, up to three times)
sub click {
    my ($self, $css) = @_;
    for my $try (1 .. 3) {
        my $id = $self->find($css);
        my $ok = eval { $self->_call(POST => $self->_s . "/element/$id/click", {}); 1 };
        return $self if $ok;
        die $@ if $try == 3 || $@ !~ /stale element/;
        sleep 0.2;
    }
    return $self;
}

sub upload {
    my ($self, $css, $path) = @_;
    my $id = $self->find($css);
    $self->_call(POST => $self->_s . "/element/$id/value", { text => $path });
    return $self;
}

sub screenshot {
    my ($self, $file) = @_;
    # the whole page, not only the window
    my $h = $self->script('return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight);');
    my $w = $self->script('return window.innerWidth;');
    $self->_call(POST => $self->_s . '/window/rect', { width => $w + 0, height => ($h < 4000 ? $h : 4000) + 0 })
        if $h && $w;
    my $png = decode_base64($self->_call(GET => $self->_s . '/screenshot'));
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $png;
    close $fh;
    return $file;
}

sub resize {
    my ($self, $w, $h) = @_;
    $self->_call(POST => $self->_s . '/window/rect', { width => $w + 0, height => $h + 0 });
    return $self;
}

sub quit {
    my ($self) = @_;
    eval { $self->_call(DELETE => $self->_s) } if $self->{session};
    delete $self->{session};
    if ($self->{pid}) {
        kill 'TERM', $self->{pid};
        waitpid $self->{pid}, 0;
        delete $self->{pid};
    }
}

sub DESTROY { $_[0]->quit }

1;
