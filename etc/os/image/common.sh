# Shared by the image OS scripts (sourced).
image_format() {
    if [ -n "${OSP_IMAGE_FORMAT}" ]; then
        echo "${OSP_IMAGE_FORMAT}"
    else
        case "${OSP_IMAGE_PATH}" in
            *.qcow2) echo qcow2 ;;
            *) echo raw ;;
        esac
    fi
}

check_params() {
    if [ -z "${OSP_IMAGE_PATH}" ]; then
        echo "image: OS parameter image_path is required" >&2; return 1
    fi
    case "${OSP_IMAGE_PATH}" in
        /*) ;;
        *) echo "image: image_path must be absolute" >&2; return 1 ;;
    esac
    case "$(image_format)" in
        raw|qcow2) ;;
        *) echo "image: image_format must be raw or qcow2" >&2; return 1 ;;
    esac
}
