using DistTrain.Engine.Losses;

namespace DistTrain.Engine.Model;

/// <summary>
/// Checks a compiled model's loss and last layer against the labels it is about to train on, before any step runs.
/// Fit's own check compares only widths; this one looks at the label values too, so that a user of their own data
/// hears "3 classes but the last layer has 1 unit" at once, not a NaN loss or an index error in the middle of epoch 1.
/// </summary>
public static class TargetCheck
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="data"/> when the labels do not suit the model.</summary>
    /// <param name="y">(N) labels, or (N, K) targets.</param>
    public static void Check(Sequential model, Tensor y, string data) => Check(model, LabelStats.Of(y), data);

    /// <inheritdoc cref="Check(Sequential, Tensor, string)"/>
    public static void Check(Sequential model, LabelStats labels, string data)
    {
        var loss = model.Loss ?? throw new InvalidOperationException("compile the model before checking its targets");
        int units = model.OutputShape[^1];
        int width = labels.Width;
        string unitText = units == 1 ? "1 unit" : $"{units} units";
        switch (loss)
        {
            case SparseCategoricalCrossentropy:
            {
                if (width != 1)
                    throw new ArgumentException($"{data} has {width} values per sample, but {loss.Name} takes one class id per sample");
                var (classes, bad) = (labels.Classes, labels.Bad);
                if (bad is { } b)
                    throw new ArgumentException($"{data} has the label {b}, but {loss.Name} takes class ids 0, 1, 2, …; for a number to predict use mean_squared_error");
                if (classes > units)
                    throw new ArgumentException(
                        $"{data} has {classes} classes but the last layer has {unitText}; {loss.Name} needs one unit per class (Dense({classes}))" +
                        (classes == 2 && units == 1 ? ", or use binary_crossentropy with this one unit and a sigmoid" : ""));
                break;
            }
            case BinaryCrossentropy:
            {
                if (width != units)
                    throw new ArgumentException($"{data} has {width} label(s) per sample but the last layer has {unitText}; {loss.Name} compares each unit to one 0/1 label");
                var (classes, bad) = (labels.Classes, labels.Bad);
                if (bad is not null || classes > 2)
                    throw new ArgumentException(bad is not null
                        ? $"{data} has the label {bad}, but {loss.Name} takes labels 0 and 1"
                        : $"{data} has {classes} classes but {loss.Name} tells 2 apart; use sparse_categorical_crossentropy with a last layer of {classes} units (Dense({classes}, \"softmax\"))");
                break;
            }
            case CategoricalCrossentropy when width == 1 && units > 1:
                throw new ArgumentException($"{data} has one class id per sample, but {loss.Name} takes one-hot rows of {units}; use sparse_categorical_crossentropy");
            default:
                if (width != loss.TargetWidth(units))
                    throw new ArgumentException($"{data} has {width} target value(s) per sample, but {loss.Name} on a last layer of {unitText} needs {loss.TargetWidth(units)}");
                break;
        }
    }
}
