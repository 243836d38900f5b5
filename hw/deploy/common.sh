# Shared by install.sh and uninstall.sh (sourced; not run on its own).

# Run a command, or print it when DRY_RUN=1.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}
