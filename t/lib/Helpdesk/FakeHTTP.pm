package Helpdesk::FakeHTTP;

# A small HTTP server for tests, standing in for the world the helpdesk
# talks to (webhook receivers, messaging providers).  It runs in a child
# process, records every request it gets, and answers from a script of
# responses the test sets: a status, a body, a delay (to play a server
# that hangs); when the script is empty it answers 200.

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

sub new {
    my ($class, %opt) = @_;
    my $dir = tempdir('fake-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp') or die $!;
    my $port = $s->sockport;
    close $s;

    my $self = bless { dir => $dir, port => $port }, $class;
    _write("$dir/script.json", encode_json([]));
    _write("$dir/requests.jsonl", '');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $self->_serve;
        exit 0;
    }
    $self->{pid} = $pid;

    for (1 .. 200) {
        return $self if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.025;
    }
    die "fake HTTP server did not start";
}

sub url { my ($self, $p) = @_; "http://127.0.0.1:$self->{port}" . ($p // '') }

# The next responses, in order: { status => 500, body => '...', delay => 2 },
# or body_b64 => '...' for bytes.
sub script {
    my ($self, @responses) = @_;
    _write("$self->{dir}/script.json", encode_json(\@responses));
}

sub requests {
    my ($self) = @_;
    return [map { decode_json($_) } grep { length } split /\n/,
            _read("$self->{dir}/requests.jsonl")];
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
        open my $fh, '>>', "$dir/requests.jsonl" or die;
        print $fh encode_json($rec), "\n";
        close $fh;

        my $script = decode_json(_read("$dir/script.json") || '[]');
        my $r = shift(@$script) // { status => 200 };
        _write("$dir/script.json", encode_json($script));

        my $answer = sub {
            return unless $c->tx;    # the client gave up
            $c->res->headers->content_type($r->{type} // 'application/json');
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
                                           listen => ["http://127.0.0.1:$self->{port}"]);
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
