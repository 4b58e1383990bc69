package Helpdesk::FakeHTTP;

# A small HTTP server for tests, standing in for the world the helpdesk
# talks to (webhook receivers, messaging providers).  It runs in a child
# process, records every request it gets, and answers from a script of
# responses the test sets: a status, a body, a delay (to play a server
# that hangs); when the script is empty it answers 200.
#
# Like the real services, it refuses what they refuse.  Each service is
# mounted under a path prefix with its credentials:
#
#   $fake->mount('/graph' => cloud => token => 'EAAG...');      # Meta Cloud API
#   $fake->mount('/d360' => '360dialog' => key => 'd360-key');  # 360dialog
#   $fake->mount('/cdn' => media => token => 'EAAG...');       # Meta's media URLs
#   $fake->mount('/hooks' => 'webhook');                       # an event receiver
#
# A request outside every mount, without the right credentials, on a path
# or with a method the service does not have, or with a body that is not
# JSON where JSON is required, gets the service's own error (its status
# and body shape) and is kept apart: requests() lists only the accepted
# ones, refused() the others.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use Mojo::JSON qw(decode_json encode_json);
use MIME::Base64 ();
use Time::HiRes qw(sleep time);

sub _write {
    my ($file, $text) = @_;
    open my $fh, '>', "$file.tmp" or die "$file: $!";
    print $fh $text;
    close $fh;
    rename "$file.tmp", $file or die $!;
}

sub _read {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# new(host => '127.0.0.2') listens on another loopback address;
# new(v6 => 1) on [::1] as well, with the same port.
sub new {
    my ($class, %opt) = @_;
    my $dir = tempdir('fake-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $host = $opt{host} // '127.0.0.1';
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => $host,
                                  LocalPort => 0, Proto => 'tcp') or die $!;
    my $port = $s->sockport;
    close $s;

    my $self = bless { dir => $dir, port => $port, host => $host, v6 => $opt{v6} }, $class;
    _write("$dir/script.json", encode_json([]));
    _write("$dir/mounts.json", encode_json([]));
    _write("$dir/requests.jsonl", '');
    _write("$dir/refused.jsonl", '');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $self->_serve;
        exit 0;
    }
    $self->{pid} = $pid;

    for (1 .. 200) {
        return $self if IO::Socket::INET->new(PeerAddr => "$host:$port");
        sleep 0.025;
    }
    die "fake HTTP server did not start";
}

sub url { my ($self, $p) = @_; "http://$self->{host}:$self->{port}" . ($p // '') }
sub port { $_[0]{port} }

# The next responses, in order: { status => 500, body => '...', delay => 2 },
# or body_b64 => '...' for bytes; headers => { Location => '...' } adds
# headers.
sub script {
    my ($self, @responses) = @_;
    _write("$self->{dir}/script.json", encode_json(\@responses));
}

# mount(PREFIX => KIND, credentials...): KIND is cloud (token), 360dialog
# (key), media (token) or webhook.  Mounting the same prefix again changes
# its credentials (a revoked key, a new token).
sub mount {
    my ($self, $prefix, $kind, %cred) = @_;
    die "unknown kind $kind" unless $kind =~ /^(cloud|360dialog|media|webhook)$/;
    my @m = grep { $_->{prefix} ne $prefix } @{ decode_json(_read("$self->{dir}/mounts.json") || '[]') };
    push @m, { prefix => $prefix, kind => $kind, %cred };
    _write("$self->{dir}/mounts.json", encode_json(\@m));
    return $self;
}

sub requests {
    my ($self) = @_;
    return [map { decode_json($_) } grep { length } split /\n/,
            _read("$self->{dir}/requests.jsonl")];
}

# The requests the fake refused, each with the reason in {refused}.
sub refused {
    my ($self) = @_;
    return [map { decode_json($_) } grep { length } split /\n/,
            _read("$self->{dir}/refused.jsonl")];
}

# What a real service answers to a request it does not take: undef when it
# takes it, else [status, content type, body, reason].
sub _refusal {
    my ($mounts, $method, $path, $h, $body) = @_;
    my ($m) = sort { length $b->{prefix} <=> length $a->{prefix} }
              grep { $path eq $_->{prefix} || index($path, "$_->{prefix}/") == 0 } @$mounts;
    return [404, 'text/html', '<html><body><h1>404 Not Found</h1></body></html>', "no service at $path"]
        unless $m;
    my $rest = substr($path, length $m->{prefix});
    my $json_body = ($h->{'content-type'} // '') =~ m{^application/json\b}i
                    && eval { decode_json($body); 1 };
    my $kind = $m->{kind};

    if ($kind eq 'cloud' || $kind eq 'media') {
        # the Graph API: an OAuthException, 400 without a token, 401 with a bad one
        my $graph = sub {
            my ($status, $code, $type, $msg, $sub, $why) = @_;
            return [$status, 'application/json', encode_json({ error => { message => $msg,
                type => $type, code => $code, ($sub ? (error_subcode => $sub) : ()),
                fbtrace_id => 'AbCdEfGhIjK' } }), $why];
        };
        my $auth = $h->{authorization};
        return $graph->(400, 2500, 'OAuthException',
                        'An active access token must be used to query information about the current user.',
                        undef, 'no access token')
            unless defined $auth && $auth =~ /^Bearer \S/;
        return $graph->(401, 190, 'OAuthException', 'Invalid OAuth access token - Cannot parse access token',
                        undef, "wrong access token: $auth")
            unless $auth eq "Bearer $m->{token}";
        if ($kind eq 'media') {
            return undef if $method eq 'GET';
            return $graph->(400, 100, 'GraphMethodException', "Unsupported \L$method\E request.", 33,
                            "$method on a media URL");
        }
        my @seg = grep { length } split m{/}, $rest;
        if (@seg == 1) {    # a phone number or a media id
            return undef if $method eq 'GET';
        } elsif (@seg == 2 && $seg[1] eq 'messages'
                 && (!defined $m->{phone_number_id} || $seg[0] eq $m->{phone_number_id})) {
            if ($method eq 'POST') {
                return $graph->(400, 100, 'OAuthException', '(#100) The parameter messaging_product is required.',
                                undef, 'a message that is not JSON')
                    unless $json_body;
                return $graph->(400, 100, 'OAuthException', '(#100) The parameter messaging_product is required.',
                                undef, 'a message without messaging_product')
                    unless (decode_json($body)->{messaging_product} // '') eq 'whatsapp';
                return undef;
            }
        } else {
            return $graph->(400, 2500, 'OAuthException', "Unknown path components: $rest", undef,
                            "unknown path $path");
        }
        return $graph->(400, 100, 'GraphMethodException',
                        "Unsupported \L$method\E request. Object with ID '$seg[0]' does not exist, cannot be "
                        . 'loaded due to missing permissions, or does not support this operation.', 33,
                        "$method $path");
    }

    if ($kind eq '360dialog') {
        my $d360 = sub {
            my ($status, $msg, $why) = @_;
            return [$status, 'application/json', encode_json({ meta => { success => \0,
                http_code => $status, developer_message => $msg } }), $why];
        };
        return $d360->(401, 'Invalid api key', 'no or wrong D360-API-KEY: ' . ($h->{'d360-api-key'} // '(none)'))
            unless defined $h->{'d360-api-key'} && $h->{'d360-api-key'} eq $m->{key};
        my %routes = ('/messages' => ['POST'], '/v1/configs/webhook' => ['GET', 'POST']);
        my $allowed = $routes{$rest}
            // ($rest =~ m{^/v1/media/[^/]+$} || $rest =~ m{^/whatsapp_business/attachments/?$}
                || $rest =~ m{^/(?!messages$|v1$)[^/]+$} ? ['GET'] : undef);
        return $d360->(404, 'Not Found', "unknown path $path") unless $allowed;
        return $d360->(405, 'Method Not Allowed', "$method $path") unless grep { $_ eq $method } @$allowed;
        return $d360->(400, 'The request body must be JSON (Content-Type: application/json)',
                       "a $method body that is not JSON")
            if $method eq 'POST' && !$json_body;
        return undef;
    }

    # an event receiver: JSON by POST
    return [405, 'text/plain', 'Method Not Allowed', "$method to a webhook receiver"] unless $method eq 'POST';
    return [415, 'text/plain', 'Unsupported Media Type', 'a webhook body that is not JSON'] unless $json_body;
    return undef;
}

# Waits until at least $n requests arrived (or $timeout seconds passed).
sub wait_for {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $r = $self->requests;
        return $r if @$r >= $n;
        sleep 0.05;
    }
    return $self->requests;
}

sub _serve {
    my ($self) = @_;
    require Mojolicious;
    require Mojo::Server::Daemon;
    require Mojo::IOLoop;

    my $dir = $self->{dir};
    my $app = Mojolicious->new;
    $app->log->level('fatal');
    $app->routes->any('/*any' => { any => '' } => sub {
        my $c = shift;
        my $req = $c->req;
        my %h = map { lc($_) => $req->headers->header($_) } @{ $req->headers->names };
        my $rec = { method => $req->method, path => $req->url->path->to_string,
                    query => $req->url->query->to_string, headers => \%h,
                    body => $req->body, at => time };
        my $mounts = decode_json(_read("$dir/mounts.json") || '[]');
        my $no = @$mounts ? _refusal($mounts, $rec->{method}, $rec->{path}, \%h, $rec->{body}) : undef;
        $rec->{refused} = $no->[3] if $no;
        open my $fh, '>>', $no ? "$dir/refused.jsonl" : "$dir/requests.jsonl" or die;
        print $fh encode_json($rec), "\n";
        close $fh;
        if ($no) {
            $c->res->headers->content_type($no->[1]);
            return $c->render(data => $no->[2], status => $no->[0]);
        }

        my $script = decode_json(_read("$dir/script.json") || '[]');
        my $r = shift(@$script) // { status => 200 };
        _write("$dir/script.json", encode_json($script));

        my $answer = sub {
            return unless $c->tx;    # the client gave up
            $c->res->headers->content_type($r->{type} // 'application/json');
            $c->res->headers->header($_ => $r->{headers}{$_}) for keys %{ $r->{headers} // {} };
            my $data = defined $r->{body_b64} ? MIME::Base64::decode_base64($r->{body_b64})
                                              : $r->{body} // '{"ok":true}';
            $c->render(data => $data, status => $r->{status} // 200);
        };
        if ($r->{delay}) {
            $c->inactivity_timeout($r->{delay} + 30);
            Mojo::IOLoop->timer($r->{delay} => $answer);
            $c->render_later;
        } else {
            $answer->();
        }
    });

    my $daemon = Mojo::Server::Daemon->new(app => $app, silent => 1,
                                           listen => ["http://$self->{host}:$self->{port}",
                                                      ($self->{v6} ? ("http://[::1]:$self->{port}") : ())]);
    $daemon->run;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

1;
